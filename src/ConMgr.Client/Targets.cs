// Targets.cs: target_session_attrs as the library takes it (ConMgr.Protocol's one definition) and as Npgsql names it.
using ConMgr.Protocol.Postgres;
using Npgsql;

namespace ConMgr.Client;

/// <summary>The connection string's <c>Target Session Attributes</c>, parsed once, in conmgr's words and Npgsql's.</summary>
internal static class Targets
{
    /// <summary>Empty means <c>any</c>; an unknown value is refused when the data source is built, as Npgsql refuses it.</summary>
    public static TargetSessionAttrs Parse(string? text) =>
        TargetSessionAttrsNames.TryParse(text, out var target)
            ? target
            : throw new ArgumentException($"invalid Target Session Attributes \"{text}\"; valid values are: {TargetSessionAttrsNames.ValidNames}");

    public static TargetSessionAttributes ToNpgsql(this TargetSessionAttrs target) => target switch
    {
        TargetSessionAttrs.ReadWrite => TargetSessionAttributes.ReadWrite,
        TargetSessionAttrs.ReadOnly => TargetSessionAttributes.ReadOnly,
        TargetSessionAttrs.Primary => TargetSessionAttributes.Primary,
        TargetSessionAttrs.Standby => TargetSessionAttributes.Standby,
        TargetSessionAttrs.PreferStandby => TargetSessionAttributes.PreferStandby,
        TargetSessionAttrs.PreferPrimary => TargetSessionAttributes.PreferPrimary,
        _ => TargetSessionAttributes.Any,
    };
}
