// ProxyTlsFuzzTests.cs: a proxy port with ssl = on under hostile input: garbage where a TLS handshake belongs, and random startup packets inside TLS.
using ConMgr.Testing;
using static ConMgr.IntegrationTests.Heartbeat.HeartbeatSettings;

namespace ConMgr.IntegrationTests.Faults;

public sealed class ProxyTlsFuzzTests
{
    private const int Iterations = 200;

    [Fact]
    public async Task Garbage_handshakes_and_random_packets_inside_tls_end_in_an_answer_or_a_clean_close_with_no_leak()
    {
        using var pki = TestPki.CreateTemporary();
        var files = pki.Issue("conmgr", "localhost", ["localhost", "127.0.0.1"]);
        await pki.ChownAsync();
        var port = FreePort.Next();
        await using var node = await ConMgrNode.CreateAsync(ConmgrLines + $"read_write_port = {port}\nlisten_addresses = '127.0.0.1'\nssl = on\nssl_cert_file = '{files.Cert}'\nssl_key_file = '{files.Key}'\nbackend_host1 = 127.0.0.1\nbackend_port1 = 1\nwatchdog_port1 = 1\n");
        await node.StartAsync("-W");
        await node.WaitReadyAsync();
        var pid = node.Pid!.Value;
        var baseline = OpenFiles.Count(pid);
        var random = new Random(17);
        byte[] clientHelloLike = [0x16, 0x03, 0x01, 0x00, 0x40, 0x01, 0x00, 0x00, 0x3C, 0x03, 0x03, .. new byte[59]];
        byte[][] inside =
        [
            PgWire.StartupMessage(("user", "app"), ("database", "app")),
            PgWire.SslRequest,
            [0, 0, 0, 16, 0x04, 0xD2, 0x16, 0x2E, 0, 0, 0, 1, 0, 0, 0, 2],
        ];
        for (var i = 0; i < Iterations; i++)
        {
            using var client = await PgWire.ConnectAsync("127.0.0.1", port);
            byte[] input;
            switch (i % 3)
            {
                case 0:
                    // An SSLRequest answered 'S', then bytes that are not a TLS handshake.
                    await client.SendAsync(PgWire.SslRequest);
                    Assert.Equal((byte)'S', (await client.ReadExactlyAsync(1, Deadline))![0]);
                    input = Fuzz.Mutate(random, clientHelloLike, 512);
                    break;
                case 1:
                    // Direct TLS's first byte, then garbage.
                    input = [0x16, .. Fuzz.Mutate(random, clientHelloLike, 512)];
                    break;
                default:
                    // A real handshake, then a random startup-phase packet inside it.
                    await client.SendAsync(PgWire.SslRequest);
                    Assert.Equal((byte)'S', (await client.ReadExactlyAsync(1, Deadline))![0]);
                    await client.StartTlsAsync(pki.CaFile);
                    input = Fuzz.Mutate(random, inside[random.Next(inside.Length)], 512);
                    break;
            }

            Assert.True(await client.SendAndDrainAsync(input, Deadline), $"input {i} ({Convert.ToHexString(input)}) was neither answered nor closed");
        }

        Assert.Equal(pid, node.Pid);
        await OpenFiles.WaitBackToAsync(pid, baseline, Deadline, "conmgr");
        using var after = await PgWire.ConnectAsync("127.0.0.1", port);
        await after.SendAsync(PgWire.SslRequest);
        Assert.Equal((byte)'S', (await after.ReadExactlyAsync(1, Deadline))![0]);
        await after.StartTlsAsync(pki.CaFile);
    }
}
