// ErrorResponseTests.cs: ErrorResponse encoding, byte for byte.
using System.Text;
using ConMgr.Protocol.Postgres;

namespace ConMgr.UnitTests.Protocol;

public sealed class ErrorResponseTests
{
    [Fact]
    public void Encodes_fields_in_postmaster_order()
    {
        var bytes = new ErrorResponse("FATAL", "08P01", "bad").ToArray();

        var expectedBody = "SFATAL\0VFATAL\0C08P01\0Mbad\0\0";
        Assert.Equal((byte)'E', bytes[0]);
        Assert.Equal(4 + expectedBody.Length, (bytes[1] << 24) | (bytes[2] << 16) | (bytes[3] << 8) | bytes[4]);
        Assert.Equal(expectedBody, Encoding.UTF8.GetString(bytes, 5, bytes.Length - 5));
    }

    [Fact]
    public void Detail_and_hint_are_included_when_set_and_utf8_is_counted_in_bytes()
    {
        var bytes = new ErrorResponse("FATAL", "57P01", "é", Detail: "d", Hint: "h").ToArray();

        var body = Encoding.UTF8.GetString(bytes, 5, bytes.Length - 5);
        Assert.Equal("SFATAL\0VFATAL\0C57P01\0Mé\0Dd\0Hh\0\0", body);
        Assert.Equal(bytes.Length - 1, (bytes[1] << 24) | (bytes[2] << 16) | (bytes[3] << 8) | bytes[4]);
    }

    [Fact]
    public void Named_errors_carry_their_sqlstate()
    {
        Assert.Equal("57P01", ClientErrors.AdminShutdown().SqlState);
        Assert.Equal("08P01", ClientErrors.InvalidStartupPacket("x").SqlState);
        Assert.Equal("08P01", ClientErrors.StartupTimeout().SqlState);
        Assert.Equal("0A000", ClientErrors.NotAResolveRequest().SqlState);
        Assert.All(
            new[] { ClientErrors.AdminShutdown(), ClientErrors.InvalidStartupPacket("x"), ClientErrors.StartupTimeout(), ClientErrors.NotAResolveRequest() },
            e => Assert.Equal("FATAL", e.Severity));
    }
}
