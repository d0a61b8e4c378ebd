// StatusCommand.cs: cm_ctl status: is conmgr running, and what it knows of instances and applications.
using System.Globalization;
using ConMgr.Hosting.Control;

namespace ConMgr.Ctl.Commands;

/// <summary>
/// Prints <c>cm_ctl: conmgr is running (PID: n)</c> (exit 0) or <c>cm_ctl: no conmgr running</c>
/// (exit 3), then the instance and/or application tables asked for with <c>-i</c>.
/// </summary>
public static class StatusCommand
{
    public static int Run(ConMgrDirectory directory, CtlOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var running = RunningConMgr.Find(directory);
        if (running is null)
        {
            Console.WriteLine("cm_ctl: no conmgr running");
            return ExitCodes.NotRunning;
        }

        Console.WriteLine($"cm_ctl: conmgr is running (PID: {running.Pid})");
        StatusReport report;
        try
        {
            report = ControlClient.GetStatusAsync(directory, TimeSpan.FromSeconds(10)).GetAwaiter().GetResult();
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or OperationCanceledException or InvalidDataException or System.Text.Json.JsonException)
        {
            Console.Error.WriteLine($"cm_ctl: could not query conmgr through \"{directory.ControlSocket}\": {ex.Message}");
            return ExitCodes.Failure;
        }

        Console.WriteLine($"state: {report.State}, port: {report.Port}, listen_addresses: {string.Join(",", report.ListenAddresses)}, started: {Time(report.StartedAt)}");
        if (options.Info is "all" or "instance")
        {
            Console.WriteLine();
            Console.WriteLine("Instances");
            Console.Write(TextTable.Format(
                ["instance", "address", "port", "watchdog_port", "heartbeat", "role", "read_only", "timeline", "lag_ms", "lag_bytes", "sessions_rw/ro/resolve", "last_rtt_ms", "since", "last_error", "excluded"],
                [.. report.Instances.Select(i => (IReadOnlyList<string>)[
                    i.Number.ToString(CultureInfo.InvariantCulture),
                    i.Address,
                    i.Port.ToString(CultureInfo.InvariantCulture),
                    i.WatchdogPort.ToString(CultureInfo.InvariantCulture),
                    i.Heartbeat,
                    i.Role,
                    i.ReadOnly switch { null => "", true => "on", false => "off" },
                    i.Timeline?.ToString(CultureInfo.InvariantCulture) ?? "",
                    i.ReplayLagMs?.ToString("0", CultureInfo.InvariantCulture) ?? "",
                    i.LagBytes?.ToString(CultureInfo.InvariantCulture) ?? "",
                    i.Sessions is { } s ? string.Create(CultureInfo.InvariantCulture, $"{s.ReadWrite}/{s.ReadOnly}/{s.Resolve}") : "",
                    i.LastRttMs?.ToString("0.000", CultureInfo.InvariantCulture) ?? "",
                    Time(i.Since),
                    i.LastError ?? "",
                    i.Excluded ?? ""])]));
        }

        if (options.Info is "all" or "application")
        {
            Console.WriteLine();
            Console.WriteLine("Application connections");
            Console.Write(TextTable.Format(
                ["client", "port", "connected_at", "target", "instance", "server"],
                [.. report.Applications.Select(a => (IReadOnlyList<string>)[a.Client, a.Port, Time(a.ConnectedAt), a.Target ?? "", a.Instance ?? "", a.Server ?? ""])]));
            if (report.Pools is { Count: > 0 } pools)
            {
                Console.WriteLine();
                Console.WriteLine("Pools");
                Console.Write(TextTable.Format(
                    ["port", "instance", "database", "user", "active", "idle", "waiting", "pinned"],
                    [.. pools.Select(p => (IReadOnlyList<string>)[p.Port, Number(p.Instance), p.Database, p.User, Number(p.Active), Number(p.Idle), Number(p.Waiting), Number(p.Pinned)])]));
            }
        }

        return ExitCodes.Success;
    }

    private static string Number(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Time(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture);
}
