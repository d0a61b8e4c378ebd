// HostEntry.cs: one entry of a Host list ("h1:p1,h2,[::1]:p3"), parsed the way Npgsql parses it.
using System.Globalization;

namespace ConMgr.Client.Resolve;

/// <summary>
/// A host and port from the connection string's host list, in the order given. A host that is an
/// absolute path is a Unix socket directory, as in libpq and Npgsql: conmgr's socket there is
/// <c>.s.PGSQL.&lt;port&gt;</c> (its <c>unix_socket_directories</c>).
/// </summary>
internal sealed record HostEntry(string Host, int Port)
{
    public bool IsUnixSocket => Host.StartsWith('/');

    public string SocketPath => Path.Combine(Host, $".s.PGSQL.{Port.ToString(CultureInfo.InvariantCulture)}");

    public override string ToString() => Format(Host, Port);

    /// <summary>host:port as a host list writes it, an IPv6 address in brackets.</summary>
    public static string Format(string host, int port) => host.Contains(':', StringComparison.Ordinal) ? $"[{host}]:{port}" : $"{host}:{port}";

    /// <summary>Splits <paramref name="hosts"/>; an entry without a port gets <paramref name="defaultPort"/>.</summary>
    public static IReadOnlyList<HostEntry> Parse(string hosts, int defaultPort)
    {
        ArgumentNullException.ThrowIfNull(hosts);
        var entries = new List<HostEntry>();
        foreach (var raw in hosts.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            string host;
            var port = defaultPort;
            if (raw.StartsWith('['))
            {
                var close = raw.IndexOf(']', StringComparison.Ordinal);
                host = raw[1..close];
                if (close + 1 < raw.Length && raw[close + 1] == ':')
                {
                    port = int.Parse(raw[(close + 2)..], CultureInfo.InvariantCulture);
                }
            }
            else if (raw.Count(c => c == ':') == 1)
            {
                var colon = raw.IndexOf(':', StringComparison.Ordinal);
                host = raw[..colon];
                port = int.Parse(raw[(colon + 1)..], CultureInfo.InvariantCulture);
            }
            else
            {
                host = raw;
            }

            entries.Add(new HostEntry(host, port));
        }

        return entries;
    }
}
