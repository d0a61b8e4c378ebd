// PeerTextTests.cs: a peer's text is printed escaped: no terminal escape sequence, no forged log line, nothing hidden.
using System.Text;
using ConMgr.Protocol;
using ConMgr.Protocol.Heartbeat;

namespace ConMgr.UnitTests.Protocol;

public sealed class PeerTextTests
{
    [Theory]
    [InlineData("plain reason, é and 日本", "plain reason, é and 日本")]
    [InlineData("\u001b[2J\u001b]0;owned\u0007", "\\x1B[2J\\x1B]0;owned\\x07")]
    [InlineData("bye\n2026-12-07 LOG:  forged line", "bye\\x0A2026-12-07 LOG:  forged line")]
    [InlineData("\u009b31m8-bit CSI\u007f", "\\x9B31m8-bit CSI\\x7F")]
    [InlineData("left\u202Eright\u200B", "left\\u{202E}right\\u{200B}")]
    [InlineData("a \\ stays", "a \\ stays")]
    public void Control_and_format_characters_are_shown_as_escapes_and_escaping_twice_changes_nothing(string text, string shown)
    {
        Assert.Equal(shown, PeerText.Escape(text));
        Assert.Equal(shown, PeerText.Escape(PeerText.Escape(text)));
    }

    [Theory]
    [InlineData("one line", "one line")]
    [InlineData("first\nsecond", "first\n\tsecond")]
    [InlineData("a\u001b]0;t\u0007\r\nLOG:  forged", "a\\x1B]0;t\\x07\\x0D\n\tLOG:  forged")]
    public void A_log_message_keeps_its_lines_but_each_continuation_starts_with_a_tab_and_controls_are_escaped(string message, string written)
    {
        Assert.Equal(written, PeerText.ForLog(message));
    }

    [Fact]
    public void A_goodbye_or_refusal_from_the_wire_is_escaped_as_it_is_decoded()
    {
        foreach (var type in new[] { (byte)'G', (byte)'R' })
        {
            var reason = Encoding.UTF8.GetBytes("bye\u001b[31m\r\nLOG: forged");
            byte[] frame = [type, 0, 0, 0, (byte)(4 + reason.Length), .. reason];
            Assert.Equal(DecodeStatus.Complete, HeartbeatCodec.TryDecode(new System.Buffers.ReadOnlySequence<byte>(frame), out var decoded, out _, out _));
            var text = Assert.IsAssignableFrom<TextFrame>(decoded).Reason;
            Assert.Equal("bye\\x1B[31m\\x0D\\x0ALOG: forged", text);
        }
    }
}
