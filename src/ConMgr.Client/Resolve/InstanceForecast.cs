// InstanceForecast.cs: which instance each conmgr of a host list keeps naming, so phase two can start beside phase one.
namespace ConMgr.Client.Resolve;

/// <summary>
/// Per host list entry, the last instance its conmgr named and whether it named the same one
/// the time before. An instance named twice in a row is the forecast: the data source may open
/// the SQL connection to it while phase one is still on its way (<see cref="EarlyOpen"/>). A
/// read-write target names the primary every time, so the forecast holds; load balancing over
/// several instances alternates, so it never forms and nothing is opened early. A loss report or
/// a wrong forecast clears the entry.
/// </summary>
internal sealed class InstanceForecast(int entries)
{
    private readonly Answer?[] _last = new Answer?[entries];

    /// <summary>The instance to open early for <paramref name="entry"/>, or null.</summary>
    public (string Host, int Port)? Predict(int entry) =>
        Volatile.Read(ref _last[entry]) is { Repeated: true } answer ? (answer.Host, answer.Port) : null;

    /// <summary>conmgr at <paramref name="entry"/> named <paramref name="host"/>:<paramref name="port"/>.</summary>
    public void Record(int entry, string host, int port)
    {
        var previous = Volatile.Read(ref _last[entry]);
        var same = previous is not null && previous.Host == host && previous.Port == port;
        if (!same || !previous!.Repeated)
        {
            Volatile.Write(ref _last[entry], new Answer(host, port, same));
        }
    }

    public void Forget(int entry) => Volatile.Write(ref _last[entry], null);

    private sealed record Answer(string Host, int Port, bool Repeated);
}
