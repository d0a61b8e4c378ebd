// ConfigException.cs: a configuration error that names file, line and parameter.
namespace ConMgr.Configuration;

/// <summary>
/// Raised when a configuration file cannot be used. The message always starts with
/// <c>file:line:</c> and names the parameter concerned, the way an operator greps for it.
/// </summary>
public sealed class ConfigException : Exception
{
    public ConfigException(string file, int line, string? parameter, string problem)
        : base(Format(file, line, parameter, problem))
    {
        File = file;
        Line = line;
        Parameter = parameter;
        Problem = problem;
    }

    public ConfigException()
    {
        File = string.Empty;
        Problem = string.Empty;
    }

    public ConfigException(string message)
        : base(message)
    {
        File = string.Empty;
        Problem = message;
    }

    public ConfigException(string message, Exception innerException)
        : base(message, innerException)
    {
        File = string.Empty;
        Problem = message;
    }

    public string File { get; }

    /// <summary>1-based line number; 0 when the error concerns the file as a whole.</summary>
    public int Line { get; }

    public string? Parameter { get; }

    public string Problem { get; }

    private static string Format(string file, int line, string? parameter, string problem)
    {
        var where = line > 0 ? $"{file}:{line}" : file;
        return parameter is null ? $"{where}: {problem}" : $"{where}: parameter \"{parameter}\": {problem}";
    }
}
