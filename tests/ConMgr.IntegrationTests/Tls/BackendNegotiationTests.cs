// BackendNegotiationTests.cs: a server that answers conmgr's SSLRequest wrongly (garbage, N where TLS is required, a close, an error): each ends in a clear 08001 for the client, never a hang.
using System.Net.Sockets;
using ConMgr.IntegrationTests.Transparent;
using ConMgr.Testing;
using Npgsql;

namespace ConMgr.IntegrationTests.Tls;

/// <summary>
/// The "server" behind the read-write port is a scripted listener that answers the SSLRequest as
/// told; the heartbeat still comes from a real primary's watchdog (backend_port0 points at the
/// script, watchdog_port0 at the watchdog). A real server cannot produce these answers on purpose.
/// </summary>
public sealed class BackendNegotiationTests
{
    [Theory]
    [InlineData("require", "X", "received invalid response to SSL negotiation from 127.0.0.1")]
    [InlineData("require", "N", "does not support SSL, but backend_sslmode = require requires it")]
    [InlineData("verify-full", "N", "does not support SSL, but backend_sslmode = verify-full requires it")]
    [InlineData("require", "", "closed the connection during SSL negotiation")]
    [InlineData("require", "S-garbage", "SSL error with 127.0.0.1")]
    public async Task A_wrong_answer_to_the_ssl_request_ends_in_08001_with_the_reason(string mode, string answer, string reason)
    {
        await using var backend = await Proxy.ScriptedBackend.StartAsync(mode);

        // Every connection gets the same answer: Npgsql opened a second connection after the first error here.
        var connections = 0;
        var serving = Task.Run(async () =>
        {
            while (true)
            {
                Socket accepted;
                try
                {
                    accepted = await backend.Server.AcceptSocketAsync();
                }
                catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
                {
                    return;
                }

                Interlocked.Increment(ref connections);
                _ = Task.Run(() => AnswerAsync(PgWire.Adopt(accepted), answer));
            }
        });

        var error = await Assert.ThrowsAsync<PostgresException>(() => Proxy.ProxyCluster.OpenAsync(backend.ReadWritePort, "Include Error Detail=true"));
        Assert.Equal("08001", error.SqlState);
        Assert.Contains(reason, error.Detail ?? error.MessageText, StringComparison.Ordinal);
        Assert.True(connections >= 1);
        backend.Server.Stop();
        await serving.WaitAsync(TransparentCluster.Deadline);
    }

    /// <summary>Reads conmgr's SSLRequest and answers as <paramref name="answer"/> says, then waits for conmgr to close.</summary>
    private static async Task AnswerAsync(PgWire server, string answer)
    {
        using (server)
        {
            if (await server.ReadExactlyAsync(8, TransparentCluster.Deadline) is not { } request || !request.AsSpan().SequenceEqual(PgWire.SslRequest))
            {
                return;
            }

            switch (answer)
            {
                case "":
                    return;
                case "S-garbage":
                    // 'S', then bytes that are no TLS record: the handshake fails at once.
                    await server.SendAsync([(byte)'S', .. "HTTP/1.1 400 Bad Request\r\n\r\n"u8.ToArray()]);
                    break;
                default:
                    await server.SendAsync([(byte)answer[0]]);
                    break;
            }

            await server.ClosedWithoutDataAsync(TransparentCluster.Deadline);
        }
    }
}
