// ResolveClient.cs: phase one: asks one host list entry for an instance, and learns whether it is conmgr or a postmaster.
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using ConMgr.Protocol.Postgres;

namespace ConMgr.Client.Resolve;

/// <summary>What one host list entry said.</summary>
internal abstract record ResolveOutcome
{
    /// <summary>conmgr chose an instance; <see cref="Socket"/> stays open for the life of the SQL connection.</summary>
    /// <remarks><see cref="Candidates"/>: how many instances were eligible (null if conmgr did not say).</remarks>
    public sealed record Resolved(Socket Socket, string Host, int Port, int Number, string Role, int? Candidates) : ResolveOutcome;

    /// <summary>conmgr answered but has no matching instance (or refused the request).</summary>
    public sealed record Refused(string SqlState, string Message) : ResolveOutcome;

    /// <summary>A PostgreSQL server answered: connect to it directly.</summary>
    public sealed record Postmaster : ResolveOutcome;

    /// <summary>Nothing usable answered (refused, timed out, garbage).</summary>
    public sealed record Unreachable(string Reason) : ResolveOutcome;
}

/// <summary>
/// Sends a StartupMessage with conmgr's <c>_pq_.</c> options (docs/protocol.md). conmgr answers
/// ParameterStatus <c>conmgr_protocol</c> first; a postmaster answers NegotiateProtocolVersion,
/// an authentication request or an error, and is then closed without authenticating.
/// </summary>
internal static class ResolveClient
{
    /// <param name="pinned">An instance number: ask conmgr about that instance only (<see cref="ResolveProtocol.InstanceOption"/>).</param>
    public static async Task<ResolveOutcome> ResolveAsync(HostEntry entry, string user, string database, string target, TimeSpan timeout, CancellationToken cancellationToken, int? pinned = null)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        var socket = entry.IsUnixSocket
            ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
            : new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        var keep = false;
        try
        {
            if (entry.IsUnixSocket)
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(entry.SocketPath), deadline.Token);
            }
            else if (IPAddress.TryParse(entry.Host, out var literal))
            {
                // The single-address overload: the multi-address one costs measurably more per connect.
                await socket.ConnectAsync(literal, entry.Port, deadline.Token);
            }
            else
            {
                await socket.ConnectAsync(await Dns.GetHostAddressesAsync(entry.Host, deadline.Token), entry.Port, deadline.Token);
            }
            await socket.SendAsync(Request(user, database, target, pinned), SocketFlags.None, deadline.Token);
            var first = await WireMessages.ReadAsync(socket, deadline.Token);
            if (first is null)
            {
                return new ResolveOutcome.Unreachable("connection closed without an answer");
            }

            if (first.Type != 'S' || !IsConmgrGreeting(first))
            {
                return first.Type is 'v' or 'R' or 'E' ? new ResolveOutcome.Postmaster() : new ResolveOutcome.Unreachable($"unexpected answer '{first.Type}'");
            }

            var outcome = await ReadAnswerAsync(socket, deadline.Token);
            keep = outcome is ResolveOutcome.Resolved;
            return outcome;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new ResolveOutcome.Unreachable($"timeout after {timeout.TotalSeconds:0.###} s");
        }
        catch (Exception ex) when (ex is SocketException or IOException or InvalidDataException)
        {
            return new ResolveOutcome.Unreachable(ex.Message);
        }
        finally
        {
            if (!keep)
            {
                socket.Dispose();
            }
        }
    }

    private static byte[] Request(string user, string database, string target, int? pinned)
    {
        var parameters = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["user"] = user,
            ["database"] = database,
            [ResolveProtocol.RequestOption] = ResolveProtocol.Version,
            [ResolveProtocol.TargetOption] = target,
        };
        if (pinned is { } number)
        {
            parameters[ResolveProtocol.InstanceOption] = number.ToString(CultureInfo.InvariantCulture);
        }

        return new StartupMessage(StartupCodes.ProtocolVersion3, parameters).ToArray();
    }

    /// <summary>conmgr's first message; a ParameterStatus that does not even parse is no greeting.</summary>
    private static bool IsConmgrGreeting(WireMessage first)
    {
        try
        {
            return first.AsParameterStatus().Name == ResolveProtocol.ProtocolParameter;
        }
        catch (InvalidDataException)
        {
            return false;
        }
    }

    /// <summary>
    /// The instance named by the answer. Every field is checked: a conmgr that sends a missing,
    /// unparsable or out-of-range value is treated as unreachable (the next host is tried),
    /// never as an exception escaping to the application.
    /// </summary>
    private static ResolveOutcome.Resolved Resolved(Socket socket, Dictionary<string, string> parameters)
    {
        var host = parameters.GetValueOrDefault(ResolveProtocol.HostParameter);
        if (string.IsNullOrEmpty(host))
        {
            throw new InvalidDataException($"conmgr's answer lacks {ResolveProtocol.HostParameter}");
        }

        var port = Integer(parameters, ResolveProtocol.PortParameter) is var p and >= 1 and <= 65535 ? p : throw new InvalidDataException($"conmgr's answer has an invalid {ResolveProtocol.PortParameter}");
        var number = Integer(parameters, ResolveProtocol.NumberParameter) ?? throw new InvalidDataException($"conmgr's answer has an invalid {ResolveProtocol.NumberParameter}");
        var candidates = parameters.ContainsKey(ResolveProtocol.CandidatesParameter) ? Integer(parameters, ResolveProtocol.CandidatesParameter) : null;
        return new ResolveOutcome.Resolved(socket, host, port.Value, number, parameters.GetValueOrDefault(ResolveProtocol.RoleParameter) ?? "unknown", candidates);
    }

    private static int? Integer(Dictionary<string, string> parameters, string name) =>
        int.TryParse(parameters.GetValueOrDefault(name), NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value : null;

    private static async Task<ResolveOutcome> ReadAnswerAsync(Socket socket, CancellationToken cancellationToken)
    {
        var parameters = new Dictionary<string, string>(StringComparer.Ordinal);
        while (true)
        {
            var message = await WireMessages.ReadAsync(socket, cancellationToken) ?? throw new EndOfStreamException("conmgr closed the connection in the middle of its answer");
            switch (message.Type)
            {
                case 'S':
                    var (name, value) = message.AsParameterStatus();
                    parameters[name] = value;
                    break;
                case 'E':
                    var fields = message.AsErrorFields();
                    return new ResolveOutcome.Refused(fields.GetValueOrDefault('C') ?? "08001", fields.GetValueOrDefault('M') ?? "conmgr refused the request");
                case 'Z':
                    return Resolved(socket, parameters);
                default:
                    throw new InvalidDataException($"unexpected message '{message.Type}' in conmgr's answer");
            }
        }
    }
}
