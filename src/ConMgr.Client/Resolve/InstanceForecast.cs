// InstanceForecast.cs: which instance each conmgr of a host list will name next, when that is certain enough to open it early.
namespace ConMgr.Client.Resolve;

/// <summary>
/// Per host list entry, the instance its conmgr named last, kept as the forecast only when
/// conmgr said it was the only eligible one (<c>conmgr_candidates = 1</c>): then the next
/// answer is the same until the cluster changes (a failover, a standby lost or added). A
/// read-write target has one primary, so the forecast holds; load balancing over several
/// instances never forms one. The data source may open the SQL connection to the forecast
/// instance while phase one is still on its way (<see cref="EarlyOpen"/>). A wrong forecast,
/// a refusal or a loss report clears the entry.
/// </summary>
internal sealed class InstanceForecast(int entries)
{
    private readonly Instance?[] _next = new Instance?[entries];

    /// <summary>The instance to open early for <paramref name="entry"/>, or null.</summary>
    public (string Host, int Port)? Predict(int entry) =>
        Volatile.Read(ref _next[entry]) is { } instance ? (instance.Host, instance.Port) : null;

    /// <summary>conmgr at <paramref name="entry"/> named <paramref name="host"/>:<paramref name="port"/> out of <paramref name="candidates"/> eligible instances.</summary>
    public void Record(int entry, string host, int port, int? candidates)
    {
        if (candidates != 1)
        {
            Forget(entry);
        }
        else if (Volatile.Read(ref _next[entry]) is not { } current || current.Host != host || current.Port != port)
        {
            Volatile.Write(ref _next[entry], new Instance(host, port));
        }
    }

    public void Forget(int entry) => Volatile.Write(ref _next[entry], null);

    private sealed record Instance(string Host, int Port);
}
