// ChannelBindingGuard.cs: when TLS ends at conmgr and the server's TLS shows another certificate, a client that chooses SCRAM channel binding gets a clear error instead of the server's.
using ConMgr.Configuration;
using ConMgr.Daemon.Clients;
using ConMgr.Hosting.Logging;
using ConMgr.Protocol.Postgres;

namespace ConMgr.Daemon.Proxy;

/// <summary>
/// SCRAM-SHA-256-PLUS binds the exchange to the certificate of the TLS connection the client
/// sees. When that connection ends at conmgr and conmgr's connection to the server presents another
/// certificate, the binding data the client sends can never match the server's, and the server
/// would end the session with "SCRAM channel binding check failed". So the client's
/// SASLInitialResponse is read before it is passed on: one that selects a <c>-PLUS</c> mechanism
/// gets <see cref="ClientErrors.ChannelBindingThroughProxy"/>, which says what to change; any other
/// goes on, and the relay's pumps take over.
/// <para>
/// The server's mechanism list is relayed unchanged. Removing <c>-PLUS</c> from it does not let
/// anyone in: a client that could bind then answers with the GS2 flag <c>y</c>, which a server on
/// TLS refuses ("SCRAM channel binding negotiation error"), and the flag is covered by the client's
/// proof, so conmgr cannot change it. Npgsql sends <c>y</c> whenever <c>-PLUS</c> is missing, even
/// with channel binding disabled, so a stripped list would lock it out entirely; with the list
/// unchanged, every client with channel binding disabled logs in (docs/proxy.md, "Channel binding").
/// </para>
/// The exchange up to the client's first SASL message is strictly one message each way, so it is
/// relayed in lock step, each message read whole (bounded by <see cref="MessageIo.MaxMessage"/>).
/// </summary>
internal sealed class ChannelBindingGuard(Stream client, Stream server, Func<byte[], Task<bool>> toClient, ServerLog log, ApplicationConnection connection, InstanceSettings instance)
{
    /// <summary>Null when relaying goes on (authentication past the mechanism choice, or not SCRAM); otherwise why the session ends.</summary>
    public async Task<string?> RunAsync()
    {
        while (true)
        {
            var message = await MessageIo.ReadAsync(server, CancellationToken.None);
            if (message is null)
            {
                return "the server closed the connection during authentication";
            }

            if (!await toClient(message))
            {
                return "the server's authentication messages were not PostgreSQL's protocol";
            }

            var code = AuthenticationMessages.RequestCode(message);
            if (message[0] == (byte)BackendMessageCode.NoticeResponse || message[0] == (byte)BackendMessageCode.NegotiateProtocolVersion)
            {
                continue;
            }

            if (code is not { } request || !AuthenticationCodes.ExpectsResponse(request))
            {
                // AuthenticationOk, an ErrorResponse, or something the pumps carry as well as we can.
                return null;
            }

            var response = await MessageIo.ReadAsync(client, CancellationToken.None);
            if (response is null)
            {
                return "the client closed the connection during authentication";
            }

            if (request == AuthenticationCodes.Sasl
                && AuthenticationMessages.TryReadSaslInitialResponse(response, out var mechanism, out char? _)
                && mechanism.EndsWith(AuthenticationMessages.PlusSuffix, StringComparison.Ordinal))
            {
                log.Log($"refusing {connection.Describe()}: it chose {mechanism} through conmgr's TLS, and conmgr's TLS to instance {instance.Number} presents another certificate");
                _ = connection.CloseWithErrorAsync(ClientErrors.ChannelBindingThroughProxy($"instance {instance.Number} ({instance.Address}:{instance.Port})"), ApplicationHandler.ErrorSendTimeout);
                return "channel binding cannot pass through conmgr";
            }

            await server.WriteAsync(response);
            if (request == AuthenticationCodes.Sasl)
            {
                return null;
            }
        }
    }
}
