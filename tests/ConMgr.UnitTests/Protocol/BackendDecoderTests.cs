// BackendDecoderTests.cs: the decoders the client's phase one uses (message header, ParameterStatus, ErrorResponse fields), at their boundaries and fuzzed.
using System.Buffers;
using System.Text;
using ConMgr.Protocol.Postgres;
using ConMgr.Testing;

namespace ConMgr.UnitTests.Protocol;

public sealed class BackendDecoderTests
{
    [Fact]
    public void ParameterStatus_round_trips_through_its_encoder()
    {
        var buffer = new ArrayBufferWriter<byte>();
        new ParameterStatus("conmgr_instance_host", "db-1.example.org").WriteTo(buffer);
        var message = buffer.WrittenSpan;

        var body = MessageFrame.BodyLength(message[..MessageFrame.HeaderLength], 1 << 16, out var error);

        Assert.Null(error);
        Assert.Equal(message.Length - MessageFrame.HeaderLength, body);
        Assert.Equal(new ParameterStatus("conmgr_instance_host", "db-1.example.org"), ParameterStatus.TryParse(message[MessageFrame.HeaderLength..]));
    }

    [Theory]
    [InlineData("")]             // no name terminator
    [InlineData("name")]         // no name terminator
    [InlineData("name\0")]       // no value terminator
    [InlineData("name\0value")]  // no value terminator
    [InlineData("name\0value\0x")] // bytes after the value
    [InlineData("name\0value\0\0")]
    public void Malformed_ParameterStatus_bodies_are_refused(string body) =>
        Assert.Null(ParameterStatus.TryParse(Encoding.UTF8.GetBytes(body)));

    [Fact]
    public void Empty_name_and_value_are_a_well_formed_ParameterStatus() =>
        Assert.Equal(new ParameterStatus("", ""), ParameterStatus.TryParse("\0\0"u8));

    [Fact]
    public void Error_fields_decode_what_the_encoder_wrote()
    {
        var message = new ErrorResponse("FATAL", "57P01", "terminating", Detail: "the heartbeat stopped").ToArray();

        var fields = ErrorResponse.FieldsOf(message.AsSpan(MessageFrame.HeaderLength));

        Assert.Equal("57P01", fields['C']);
        Assert.Equal("terminating", fields['M']);
        Assert.Equal("the heartbeat stopped", fields['D']);
        Assert.Equal("FATAL", fields['V']);
    }

    [Theory]
    [InlineData("", 0)]
    [InlineData("\0", 0)]
    [InlineData("Cabc", 0)]          // an unterminated field ends the list
    [InlineData("Cabc\0Mx", 1)]
    [InlineData("Cabc\0Cdef\0\0", 1)] // a repeated code keeps the last
    public void Error_fields_of_truncated_or_odd_bodies(string body, int count) =>
        Assert.Equal(count, ErrorResponse.FieldsOf(Encoding.UTF8.GetBytes(body)).Count);

    [Theory]
    [InlineData(0, null)]
    [InlineData(-1, null)]
    [InlineData(3, null)]
    [InlineData(4, 0)]
    [InlineData(100, 96)]
    [InlineData(101, null)]
    [InlineData(int.MaxValue, null)]
    [InlineData(int.MinValue, null)]
    public void Header_lengths_are_checked_against_the_limit_before_anything_is_allocated(int length, int? body)
    {
        byte[] header = [(byte)'S', (byte)(length >> 24), (byte)(length >> 16), (byte)(length >> 8), (byte)length];

        Assert.Equal(body, MessageFrame.BodyLength(header, 101, out var error));
        Assert.Equal(body is null, error is not null);
    }

    /// <summary>Bounded fuzz: mutated bodies decode or are refused, never throw.</summary>
    [Fact]
    public void Random_bodies_never_throw()
    {
        var random = new Random(12);
        var status = Encoding.UTF8.GetBytes("conmgr_candidates\u00002\u0000");
        var error = new ErrorResponse("FATAL", "08001", "no instance matches", Detail: "é").ToArray()[MessageFrame.HeaderLength..];
        for (var i = 0; i < 5000; i++)
        {
            _ = ParameterStatus.TryParse(Fuzz.Mutate(random, status, 64));
            _ = ErrorResponse.FieldsOf(Fuzz.Mutate(random, error, 128));
        }
    }
}
