// ResolveProtocol.cs: the names of conmgr's two-phase "resolve" protocol on its port (docs/protocol.md).
namespace ConMgr.Protocol.Postgres;

/// <summary>
/// A resolve request is an ordinary StartupMessage carrying these <c>_pq_.</c> options. A
/// postmaster answers such a message predictably: NegotiateProtocolVersion ('v') listing the
/// options it does not know, then authentication ('R') or an ErrorResponse ('E'); never a
/// ParameterStatus first. conmgr answers with ParameterStatus <see cref="ProtocolParameter"/>
/// first, so one host list can mix conmgr and postmaster addresses.
/// </summary>
public static class ResolveProtocol
{
    public const string Version = "1.0";

    /// <summary>Startup option marking a resolve request; its value is the client's protocol version.</summary>
    public const string RequestOption = "_pq_.conmgr_resolve";

    /// <summary>Startup option carrying target_session_attrs (under _pq_ so a postmaster never takes it for a GUC).</summary>
    public const string TargetOption = "_pq_.conmgr_target_session_attrs";

    /// <summary>
    /// Optional startup option: the number of one instance (backend_hostN). conmgr then considers
    /// only that instance: it answers as usual if the instance is eligible for the target, and
    /// refuses with 08001 otherwise. A pooling client uses it to have a new server connection to
    /// an instance it already knows counted and watched (docs/protocol.md). A conmgr that does not
    /// know the option ignores it and may name another instance; the client checks the number.
    /// </summary>
    public const string InstanceOption = "_pq_.conmgr_instance";

    /// <summary>First ParameterStatus of every conmgr answer: "this is conmgr", and its protocol version.</summary>
    public const string ProtocolParameter = "conmgr_protocol";

    public const string HostParameter = "conmgr_instance_host";
    public const string PortParameter = "conmgr_instance_port";
    public const string NumberParameter = "conmgr_instance_number";
    public const string RoleParameter = "conmgr_instance_role";

    /// <summary>How many instances were eligible for the target when conmgr chose: 1 means the answer repeats until the cluster changes.</summary>
    public const string CandidatesParameter = "conmgr_candidates";
}
