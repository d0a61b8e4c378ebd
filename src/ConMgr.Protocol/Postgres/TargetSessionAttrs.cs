// TargetSessionAttrs.cs: the target_session_attrs values a client may ask conmgr for, with libpq's meanings.
namespace ConMgr.Protocol.Postgres;

/// <summary>What kind of instance a client wants (libpq's target_session_attrs, plus prefer-primary).</summary>
public enum TargetSessionAttrs
{
    /// <summary>Any instance with a live heartbeat.</summary>
    Any,

    /// <summary>Not in recovery and default_transaction_read_only off.</summary>
    ReadWrite,

    /// <summary>In recovery, or default_transaction_read_only on.</summary>
    ReadOnly,

    /// <summary>Not in recovery.</summary>
    Primary,

    /// <summary>In recovery.</summary>
    Standby,

    /// <summary>A standby if there is one, else any instance.</summary>
    PreferStandby,

    /// <summary>A primary if there is one, else any instance.</summary>
    PreferPrimary,
}

public static class TargetSessionAttrsNames
{
    private static readonly Dictionary<string, TargetSessionAttrs> ByName = new(StringComparer.OrdinalIgnoreCase)
    {
        ["any"] = TargetSessionAttrs.Any,
        ["read-write"] = TargetSessionAttrs.ReadWrite,
        ["read-only"] = TargetSessionAttrs.ReadOnly,
        ["primary"] = TargetSessionAttrs.Primary,
        ["standby"] = TargetSessionAttrs.Standby,
        ["prefer-standby"] = TargetSessionAttrs.PreferStandby,
        ["prefer-primary"] = TargetSessionAttrs.PreferPrimary,
    };

    public static bool TryParse(string? text, out TargetSessionAttrs target)
    {
        if (string.IsNullOrEmpty(text))
        {
            target = TargetSessionAttrs.Any;
            return true;
        }

        return ByName.TryGetValue(text.Trim(), out target);
    }

    public static string Name(this TargetSessionAttrs target) => target switch
    {
        TargetSessionAttrs.ReadWrite => "read-write",
        TargetSessionAttrs.ReadOnly => "read-only",
        TargetSessionAttrs.Primary => "primary",
        TargetSessionAttrs.Standby => "standby",
        TargetSessionAttrs.PreferStandby => "prefer-standby",
        TargetSessionAttrs.PreferPrimary => "prefer-primary",
        _ => "any",
    };

    public static string ValidNames => string.Join(", ", ByName.Keys);
}
