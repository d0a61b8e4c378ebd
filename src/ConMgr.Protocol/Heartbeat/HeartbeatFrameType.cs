// HeartbeatFrameType.cs: the type byte of every frame of the conmgr-watchdog heartbeat protocol.
namespace ConMgr.Protocol.Heartbeat;

/// <summary>Frame types; docs/protocol.md says who sends each and when.</summary>
public enum HeartbeatFrameType : byte
{
    /// <summary>conmgr → watchdog, first frame: magic, version, heartbeat_interval, heartbeat_timeout.</summary>
    Hello = (byte)'H',

    /// <summary>watchdog → conmgr, answer to Hello: version accepted.</summary>
    Welcome = (byte)'W',

    /// <summary>Both ways, every heartbeat_interval: timestamps for round-trip time.</summary>
    Beat = (byte)'B',

    /// <summary>watchdog → conmgr: the instance's attributes, at connect and on every change.</summary>
    Attributes = (byte)'A',

    /// <summary>Either way, last frame of an orderly close, with a reason.</summary>
    Goodbye = (byte)'G',

    /// <summary>watchdog → conmgr instead of Welcome: why the connection is refused.</summary>
    Refusal = (byte)'R',

    /// <summary>watchdog → conmgr instead of Welcome (1.2, shared secret): the watchdog's nonce.</summary>
    Challenge = (byte)'C',

    /// <summary>Both ways (1.2, shared secret): a nonce and an HMAC that proves the secret without sending it.</summary>
    Proof = (byte)'P',

    /// <summary>conmgr → watchdog (1.4, preauth): a role's secret and group membership, by request id.</summary>
    AuthLookup = (byte)'L',

    /// <summary>watchdog → conmgr (1.4): the answer to an AuthLookup.</summary>
    AuthLookupAnswer = (byte)'K',
}
