// ChannelBindingGuard.cs: relays the authentication exchange message by message when TLS ends at conmgr, so no client is offered SCRAM channel binding it cannot complete.
using ConMgr.Configuration;
using ConMgr.Daemon.Clients;
using ConMgr.Hosting.Logging;
using ConMgr.Protocol.Postgres;

namespace ConMgr.Daemon.Proxy;

/// <summary>
/// SCRAM-SHA-256-PLUS binds the exchange to the certificate of the TLS connection the client sees.
/// When that connection ends at conmgr and conmgr's connection to the server presents another
/// certificate, the server's binding data can never match the client's, so:
/// <list type="bullet">
/// <item>every <c>-PLUS</c> mechanism is removed from the AuthenticationSASL list the client gets:
/// libpq with <c>channel_binding=require</c> then fails at once with its own clear message
/// ("server did not offer an authentication method that supports channel binding");</item>
/// <item>a client that then answers with the GS2 flag <c>y</c> (it could bind but thinks the server
/// cannot: libpq's default <c>channel_binding=prefer</c> over TLS) would be refused by a server whose
/// own connection is TLS ("SCRAM channel binding negotiation error"), and the flag is covered by the
/// client's proof, so conmgr cannot change it: the client gets
/// <see cref="ClientErrors.ChannelBindingThroughProxy"/> instead, which says what to change.</item>
/// </list>
/// The exchange is strictly one message each way, so it is relayed in lock step, each message
/// read whole (bounded by <see cref="MessageIo.MaxMessage"/>), until AuthenticationOk or an error;
/// the relay's pumps take over from there.
/// </summary>
internal sealed class ChannelBindingGuard(Stream client, Stream server, Func<byte[], Task<bool>> toClient, ServerLog log, ApplicationConnection connection, InstanceSettings instance)
{
    /// <summary>Null when authentication is over (or was left to the server to end) and relaying goes on; otherwise why the session ends.</summary>
    public async Task<string?> RunAsync()
    {
        var removed = false;
        while (true)
        {
            var message = await MessageIo.ReadAsync(server, CancellationToken.None);
            if (message is null)
            {
                return "the server closed the connection during authentication";
            }

            var code = AuthenticationMessages.RequestCode(message);
            if (code == AuthenticationCodes.Sasl)
            {
                message = AuthenticationMessages.WithoutChannelBinding(message, out var any, out var error)
                    ?? throw new MessageFormatException(error!);
                removed |= any;
                if (any && log.IsEnabled(MessageLevel.Debug))
                {
                    log.Debug($"removed SCRAM channel binding from the mechanisms offered to {connection.Describe()}: its TLS ends at conmgr");
                }
            }

            if (!await toClient(message))
            {
                return "the server's authentication messages were not PostgreSQL's protocol";
            }

            if (message[0] == (byte)BackendMessageCode.NoticeResponse || message[0] == (byte)BackendMessageCode.NegotiateProtocolVersion || code == AuthenticationCodes.SaslFinal)
            {
                continue;
            }

            if (code is not { } request || !AuthenticationCodes.ExpectsResponse(request))
            {
                // AuthenticationOk, an ErrorResponse, or something the pumps can carry as well as we can.
                return null;
            }

            var response = await MessageIo.ReadAsync(client, CancellationToken.None);
            if (response is null)
            {
                return "the client closed the connection during authentication";
            }

            if (removed && request == AuthenticationCodes.Sasl
                && AuthenticationMessages.TryReadSaslInitialResponse(response, out var mechanism, out var flag) && flag == 'y')
            {
                log.Log($"refusing {connection.Describe()}: it offers SCRAM channel binding ({mechanism}, flag 'y') through conmgr's TLS to instance {instance.Number}, which the server would reject");
                _ = connection.CloseWithErrorAsync(ClientErrors.ChannelBindingThroughProxy($"instance {instance.Number} ({instance.Address}:{instance.Port})"), ApplicationHandler.ErrorSendTimeout);
                return "channel binding cannot pass through conmgr";
            }

            await server.WriteAsync(response);
        }
    }
}
