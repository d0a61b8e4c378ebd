// ConfigEntry.cs: one "name = value" line of a configuration file, before typing.
namespace ConMgr.Configuration;

/// <summary>A parameter assignment as written: lower-cased name, unescaped value, where it stands.</summary>
public sealed record ConfigEntry(string Name, string Value, bool Quoted, int Line);
