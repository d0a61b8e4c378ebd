// CtlOptions.cs: cm_ctl's command line, parsed the way pg_ctl parses its own.
using System.Globalization;

namespace ConMgr.Ctl;

/// <summary>What cm_ctl was asked to do.</summary>
public sealed record CtlOptions
{
    public string? Command { get; init; }

    public string? Directory { get; init; }

    public bool Wait { get; init; } = true;

    /// <summary>start: wait for every instance's heartbeat, not just the primary's.</summary>
    public bool Complete { get; init; }

    public int TimeoutSeconds { get; init; } = 60;

    public string? LogFile { get; init; }

    public string Mode { get; init; } = "fast";

    public string Info { get; init; } = "all";

    public bool Help { get; init; }

    public bool Version { get; init; }

    /// <summary>Parses <paramref name="args"/>; options may stand before or after the command.</summary>
    public static CtlOptions Parse(IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var options = new CtlOptions();
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            var (name, inline) = SplitLong(arg);
            options = name switch
            {
                "-D" or "--directory" => options with { Directory = Value(args, ref i, inline, arg) },
                "-W" or "--no-wait" => options with { Wait = false },
                "-w" or "--wait" => options with { Wait = true },
                "--complete" => options with { Complete = true },
                "-t" or "--timeout" => options with { TimeoutSeconds = Seconds(Value(args, ref i, inline, arg)) },
                "-l" or "--log" => options with { LogFile = Value(args, ref i, inline, arg) },
                "-m" or "--mode" => options with { Mode = ShutdownMode(Value(args, ref i, inline, arg)) },
                "-i" or "--info" => options with { Info = InfoKind(Value(args, ref i, inline, arg)) },
                "-?" or "--help" => options with { Help = true },
                "-V" or "--version" => options with { Version = true },
                _ when arg.StartsWith('-') => throw new UsageException($"invalid option -- '{arg}'"),
                _ when options.Command is null => options with { Command = CommandName(arg) },
                _ => throw new UsageException($"too many command-line arguments (first is \"{arg}\")"),
            };
        }

        return options;
    }

    private static (string Name, string? Inline) SplitLong(string arg)
    {
        if (arg.StartsWith("--", StringComparison.Ordinal) && arg.IndexOf('=', StringComparison.Ordinal) is var eq and > 0)
        {
            return (arg[..eq], arg[(eq + 1)..]);
        }

        // pg_ctl accepts "-Ddir" as well as "-D dir".
        if (arg.Length > 2 && arg[0] == '-' && arg[1] is 'D' or 't' or 'l' or 'm' or 'i')
        {
            return (arg[..2], arg[2..]);
        }

        return (arg, null);
    }

    private static string Value(IReadOnlyList<string> args, ref int i, string? inline, string option)
    {
        if (inline is not null)
        {
            return inline;
        }

        if (i + 1 >= args.Count)
        {
            throw new UsageException($"option requires an argument -- '{option}'");
        }

        return args[++i];
    }

    private static int Seconds(string text) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) && seconds > 0
            ? seconds
            : throw new UsageException($"invalid timeout \"{text}\": must be a positive number of seconds");

    private static string ShutdownMode(string text) => text switch
    {
        "s" or "smart" => "smart",
        "f" or "fast" => "fast",
        "i" or "immediate" => "immediate",
        _ => throw new UsageException($"unrecognized shutdown mode \"{text}\" (smart, fast or immediate)"),
    };

    private static string InfoKind(string text) => text switch
    {
        "all" or "instance" or "application" => text,
        _ => throw new UsageException($"unrecognized status information \"{text}\" (all, instance or application)"),
    };

    private static string CommandName(string text) => text switch
    {
        "start" or "stop" or "status" or "reload" or "restart" => text,
        _ => throw new UsageException($"unrecognized operation mode \"{text}\""),
    };
}

/// <summary>A command-line mistake: printed with a pointer to --help, exit code 1.</summary>
public sealed class UsageException : Exception
{
    public UsageException(string message)
        : base(message)
    {
    }

    public UsageException()
    {
    }

    public UsageException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
