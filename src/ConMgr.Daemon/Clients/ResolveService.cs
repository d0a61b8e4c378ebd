// ResolveService.cs: answers resolve requests with an instance, then watches that instance for the client until either side ends.
using System.Buffers;
using System.Net.Sockets;
using ConMgr.Daemon.Diagnostics;
using ConMgr.Daemon.Instances;
using ConMgr.Daemon.Routing;
using ConMgr.Hosting.Logging;
using ConMgr.Protocol.Postgres;

namespace ConMgr.Daemon.Clients;

/// <summary>
/// Phase one of the two-phase connection. The answer is ParameterStatus messages (protocol
/// version, instance host, port, number, role, number of candidates) and ReadyForQuery; or ParameterStatus plus a
/// FATAL ErrorResponse (08001 no eligible instance, 22023 bad target). After a successful answer
/// the socket stays open for the life of the client's SQL connection: conmgr writes a FATAL
/// 57P01 on it when the instance loses its heartbeat or stops matching the target, and the
/// client closing it tells conmgr the SQL connection ended.
/// </summary>
public sealed class ResolveService(InstanceTable instances, ApplicationRegistry registry, Router router, SessionGuard guard, ServerLog log)
{
    public async Task ResolveAsync(ApplicationConnection connection, StartupMessage startup)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(startup);
        var requested = startup.GetParameter(ResolveProtocol.TargetOption);
        connection.Target = requested ?? "any";
        if (!TargetSessionAttrsNames.TryParse(requested, out var target))
        {
            ConMgrMetrics.RecordResolve("invalid", "invalid");
            await RefuseAsync(connection, ClientErrors.InvalidTarget(requested!, TargetSessionAttrsNames.ValidNames));
            return;
        }

        connection.TargetAttrs = target;
        connection.Target = target.Name();
        var pinned = startup.GetParameter(ResolveProtocol.InstanceOption);
        int? only = null;
        if (pinned is not null)
        {
            if (!int.TryParse(pinned, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number))
            {
                ConMgrMetrics.RecordResolve(connection.Target, "invalid");
                await RefuseAsync(connection, ClientErrors.InvalidInstanceNumber(pinned));
                return;
            }

            only = number;
        }

        var route = router.Choose(instances.Rows(), target, only: only);
        if (route.Instance is not { } instance)
        {
            ConMgrMetrics.RecordResolve(connection.Target, "refused");
            log.Log($"refusing {connection.Describe()}: {route.Refusal}");
            await RefuseAsync(connection, ClientErrors.NoEligibleInstance(route.Refusal!));
            return;
        }

        ConMgrMetrics.RecordResolve(connection.Target, "routed");
        connection.InstanceVersion = instance.Version;
        registry.Assign(connection, route.Index);
        connection.Instance = $"{instance.Settings.Address}:{instance.Settings.Port}";
        connection.State = ApplicationState.Monitoring;
        if (!await SendAsync(connection, Answer(instance, route.Candidates)))
        {
            return;
        }

        if (log.IsEnabled(Configuration.MessageLevel.Debug))
        {
            // Guarded: this runs on every connection, and the message is rarely wanted.
            log.Debug($"sent {connection.Describe()} ({connection.Target}) to instance {instance.Settings.Number} ({connection.Instance})");
        }

        // The instance may have been lost between the choice and now: check once, then rely on change events.
        guard.CheckNow(connection);
        await WaitForClientToLeaveAsync(connection);
    }

    private static byte[] Answer(InstanceState instance, int candidates)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        new ParameterStatus(ResolveProtocol.ProtocolParameter, ResolveProtocol.Version).WriteTo(buffer);
        new ParameterStatus(ResolveProtocol.HostParameter, instance.Settings.Address).WriteTo(buffer);
        new ParameterStatus(ResolveProtocol.PortParameter, instance.Settings.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)).WriteTo(buffer);
        new ParameterStatus(ResolveProtocol.NumberParameter, instance.Settings.Number.ToString(System.Globalization.CultureInfo.InvariantCulture)).WriteTo(buffer);
        new ParameterStatus(ResolveProtocol.RoleParameter, instance.Role).WriteTo(buffer);
        new ParameterStatus(ResolveProtocol.CandidatesParameter, candidates.ToString(System.Globalization.CultureInfo.InvariantCulture)).WriteTo(buffer);
        ReadyForQuery.WriteIdle(buffer);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>A refusal still starts with conmgr's ParameterStatus: the client must know it was conmgr that said no.</summary>
    private static async Task RefuseAsync(ApplicationConnection connection, ErrorResponse error)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        new ParameterStatus(ResolveProtocol.ProtocolParameter, ResolveProtocol.Version).WriteTo(buffer);
        if (await SendAsync(connection, buffer.WrittenSpan.ToArray()))
        {
            await connection.CloseWithErrorAsync(error, ApplicationHandler.ErrorSendTimeout);
        }
    }

    private static async Task<bool> SendAsync(ApplicationConnection connection, byte[] bytes)
    {
        using var cts = new CancellationTokenSource(ApplicationHandler.ErrorSendTimeout);
        return await connection.TrySendAsync(bytes, cts.Token);
    }

    /// <summary>
    /// Waits, holding no buffer, until the client closes its socket (its SQL connection ended) or
    /// conmgr closes it. A client must send nothing in this phase: data is a protocol violation.
    /// </summary>
    private async Task WaitForClientToLeaveAsync(ApplicationConnection connection)
    {
        try
        {
            await connection.Socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None);
            var probe = new byte[1];
            if (connection.Socket.Available > 0 && await connection.Socket.ReceiveAsync(probe, SocketFlags.None) > 0)
            {
                log.Log($"protocol violation from {connection.Describe()}: data after the resolve answer");
                await connection.CloseWithErrorAsync(ClientErrors.InvalidStartupPacket("unexpected data after the resolve answer"), ApplicationHandler.ErrorSendTimeout);
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Closed by us (loss report, shutdown) or reset by the client: either way, done.
        }
    }
}
