// Program.cs: cm_client_probe CONNSTRING SQL: open through conmgr, print "opened HOST:PORT", run SQL, print how it ended and when.
using System.Diagnostics;
using System.Globalization;
using ConMgr.Client;
using Npgsql;

namespace ConMgr.ClientProbe;

public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        if (args.Length != 2)
        {
            Console.Error.WriteLine("usage: cm_client_probe CONNSTRING SQL");
            return 2;
        }

        await using var source = ConMgrDataSource.Create(args[0]);
        await using var connection = await source.OpenConnectionAsync();
        Console.WriteLine($"opened {connection.Host}:{connection.Port.ToString(CultureInfo.InvariantCulture)}");
        await using var command = new NpgsqlCommand(args[1], connection);
        var query = command.ExecuteScalarAsync();
        Console.WriteLine("running");
        var channel = connection.GetConMgrChannel();
        try
        {
            Console.WriteLine($"result {await query}");
            return 0;
        }
        catch (NpgsqlException ex)
        {
            var sinceReport = channel?.LostTimestamp is { } at ? Stopwatch.GetElapsedTime(at).TotalMilliseconds : -1;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"failed transient={ex.IsTransient} ms_after_report={sinceReport:0} reason={channel?.LostReason} error={ex.Message}"));
            return 1;
        }
    }
}
