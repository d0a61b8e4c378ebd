// AuthenticationMessagesTests.cs: the authentication-phase reading conmgr does (header bounds, request code, SASLInitialResponse), ErrorResponse fields, and MessageIo on every split of its input.
using System.Buffers.Binary;
using System.Text;
using ConMgr.Daemon.Proxy;
using ConMgr.Protocol.Postgres;
using ConMgr.Testing;

namespace ConMgr.UnitTests.Protocol;

public sealed class AuthenticationMessagesTests
{
    /// <summary>A SASLInitialResponse as libpq sends it: mechanism, data length, client-first-message.</summary>
    private static byte[] InitialResponse(string mechanism, string? data)
    {
        var name = Encoding.UTF8.GetBytes(mechanism);
        var payload = data is null ? [] : Encoding.UTF8.GetBytes(data);
        var message = new byte[5 + name.Length + 1 + 4 + payload.Length];
        message[0] = (byte)'p';
        BinaryPrimitives.WriteInt32BigEndian(message.AsSpan(1), message.Length - 1);
        name.CopyTo(message, 5);
        BinaryPrimitives.WriteInt32BigEndian(message.AsSpan(5 + name.Length + 1), data is null ? -1 : payload.Length);
        payload.CopyTo(message, 5 + name.Length + 5);
        return message;
    }

    private static byte[] Sasl(params string[] mechanisms)
    {
        var body = new List<byte>();
        body.AddRange(new byte[] { 0, 0, 0, 10 });
        foreach (var mechanism in mechanisms)
        {
            body.AddRange(Encoding.UTF8.GetBytes(mechanism));
            body.Add(0);
        }

        body.Add(0);
        return [(byte)'R', .. BitConverter.IsLittleEndian ? BitConverter.GetBytes(body.Count + 4).Reverse() : BitConverter.GetBytes(body.Count + 4), .. body];
    }

    [Theory]
    [InlineData(4, 100, 0)]
    [InlineData(99, 100, 95)]
    public void A_length_word_from_4_to_the_bound_gives_the_body_length(int length, int max, int body)
    {
        var header = new byte[5];
        header[0] = (byte)'R';
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(1), length);
        Assert.Equal(body, MessageFrame.BodyLength(header, max, out var error));
        Assert.Null(error);
    }

    [Theory]
    [InlineData(3)]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(int.MinValue)]
    [InlineData(100)]
    [InlineData(int.MaxValue)]
    public void A_length_word_below_4_or_beyond_the_bound_is_refused(int length)
    {
        var header = new byte[5];
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(1), length);
        Assert.Null(MessageFrame.BodyLength(header, 100, out var error));
        Assert.Contains("invalid message length", error, StringComparison.Ordinal);
    }

    [Fact]
    public void The_request_code_is_read_from_whole_authentication_requests_only()
    {
        Assert.Equal(AuthenticationCodes.Sasl, AuthenticationMessages.RequestCode(Sasl("SCRAM-SHA-256-PLUS", "SCRAM-SHA-256")));
        Assert.Equal(AuthenticationCodes.Ok, AuthenticationMessages.RequestCode([(byte)'R', 0, 0, 0, 8, 0, 0, 0, 0]));
        Assert.Null(AuthenticationMessages.RequestCode([(byte)'R', 0, 0, 0, 8, 0, 0, 0]));
        Assert.Null(AuthenticationMessages.RequestCode([(byte)'E', 0, 0, 0, 8, 0, 0, 0, 0]));
        Assert.True(AuthenticationCodes.ExpectsResponse(AuthenticationCodes.Sasl));
        Assert.True(AuthenticationCodes.ExpectsResponse(AuthenticationCodes.Md5Password));
        Assert.False(AuthenticationCodes.ExpectsResponse(AuthenticationCodes.SaslFinal));
        Assert.False(AuthenticationCodes.ExpectsResponse(AuthenticationCodes.Ok));
    }

    [Theory]
    [InlineData("SCRAM-SHA-256-PLUS", "p=tls-server-end-point,,n=,r=abc", 'p')]
    [InlineData("SCRAM-SHA-256", "y,,n=,r=abc", 'y')]
    [InlineData("SCRAM-SHA-256", "n,,n=,r=abc", 'n')]
    public void A_sasl_initial_response_gives_its_mechanism_and_gs2_flag(string mechanism, string data, char flag)
    {
        Assert.True(AuthenticationMessages.TryReadSaslInitialResponse(InitialResponse(mechanism, data), out var read, out var gs2));
        Assert.Equal(mechanism, read);
        Assert.Equal(flag, gs2);
    }

    [Fact]
    public void A_sasl_initial_response_without_data_has_no_flag_and_malformed_ones_are_refused()
    {
        Assert.True(AuthenticationMessages.TryReadSaslInitialResponse(InitialResponse("SCRAM-SHA-256", null), out _, out var flag));
        Assert.Null(flag);

        var good = InitialResponse("SCRAM-SHA-256", "n,,n=,r=abc");
        Assert.False(AuthenticationMessages.TryReadSaslInitialResponse(good.AsSpan(0, good.Length - 1), out _, out _));
        Assert.False(AuthenticationMessages.TryReadSaslInitialResponse([(byte)'p', 0, 0, 0, 8, (byte)'S', (byte)'C', (byte)'R'], out _, out _));
        var lying = good.ToArray();
        BinaryPrimitives.WriteInt32BigEndian(lying.AsSpan(5 + "SCRAM-SHA-256".Length + 1), 1000);
        Assert.False(AuthenticationMessages.TryReadSaslInitialResponse(lying, out _, out _));
        BinaryPrimitives.WriteInt32BigEndian(lying.AsSpan(5 + "SCRAM-SHA-256".Length + 1), -2);
        Assert.False(AuthenticationMessages.TryReadSaslInitialResponse(lying, out _, out _));
        good[0] = (byte)'Q';
        Assert.False(AuthenticationMessages.TryReadSaslInitialResponse(good, out _, out _));
    }

    [Fact]
    public void Error_fields_are_found_in_a_servers_error_and_a_truncated_one_gives_null()
    {
        var error = new ErrorResponse("FATAL", "28000", "no pg_hba.conf entry", Detail: "d").ToArray();
        Assert.Equal("no pg_hba.conf entry", ErrorResponse.FieldOf(error, (byte)'M'));
        Assert.Equal("28000", ErrorResponse.FieldOf(error, (byte)'C'));
        Assert.Null(ErrorResponse.FieldOf(error, (byte)'H'));
        Assert.Null(ErrorResponse.FieldOf(error.AsSpan(0, 12), (byte)'M'));
        Assert.Null(ErrorResponse.FieldOf([(byte)'E'], (byte)'M'));
    }

    [Fact]
    public void Random_and_mutated_authentication_messages_never_throw()
    {
        var random = new Random(11);
        byte[][] seeds = [InitialResponse("SCRAM-SHA-256", "y,,n=,r=abc"), Sasl("SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"), new ErrorResponse("FATAL", "28000", "m").ToArray()];
        for (var i = 0; i < 20_000; i++)
        {
            var input = Fuzz.Mutate(random, seeds[i % seeds.Length], 256);
            _ = AuthenticationMessages.TryReadSaslInitialResponse(input, out _, out _);
            _ = AuthenticationMessages.RequestCode(input);
            _ = ErrorResponse.FieldOf(input, (byte)'M');
            if (input.Length >= 5)
            {
                _ = MessageFrame.BodyLength(input, MessageIo.MaxMessage, out _);
            }
        }
    }

    [Fact]
    public async Task MessageIo_reads_a_whole_message_on_every_split_of_its_input()
    {
        var message = InitialResponse("SCRAM-SHA-256", "n,,n=,r=abcdef");
        var input = message.Concat(message).ToArray();
        for (var chunk = 1; chunk <= input.Length; chunk++)
        {
            using var stream = new ChunkedStream(input, chunk);
            Assert.Equal(message, await MessageIo.ReadAsync(stream, CancellationToken.None));
            Assert.Equal(message, await MessageIo.ReadAsync(stream, CancellationToken.None));
            Assert.Null(await MessageIo.ReadAsync(stream, CancellationToken.None));
        }
    }

    [Fact]
    public async Task MessageIo_refuses_a_hostile_length_before_allocating_and_a_close_inside_a_message()
    {
        foreach (var length in Fuzz.HostileLengths.Where(l => l < 4 || l > MessageIo.MaxMessage - 1))
        {
            var header = new byte[5];
            header[0] = (byte)'R';
            BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(1), length);
            using var stream = new ChunkedStream(header, 5);
            await Assert.ThrowsAsync<MessageFormatException>(() => MessageIo.ReadAsync(stream, CancellationToken.None));
        }

        var message = InitialResponse("SCRAM-SHA-256", "n,,n=,r=abcdef");
        for (var cut = 1; cut < message.Length; cut++)
        {
            using var stream = new ChunkedStream(message[..cut], 3);
            await Assert.ThrowsAsync<MessageFormatException>(() => MessageIo.ReadAsync(stream, CancellationToken.None));
        }
    }

    /// <summary>A read-only stream that hands out at most <c>chunk</c> bytes per read.</summary>
    private sealed class ChunkedStream(byte[] bytes, int chunk) : Stream
    {
        private int _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => bytes.Length;

        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = Math.Min(Math.Min(count, chunk), bytes.Length - _position);
            Array.Copy(bytes, _position, buffer, offset, n);
            _position += n;
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
