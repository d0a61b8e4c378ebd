// DecodeStatus.cs: the outcome of one attempt to decode a packet or frame from buffered bytes.
namespace ConMgr.Protocol;

/// <summary>Outcome of one decoding attempt.</summary>
public enum DecodeStatus
{
    /// <summary>The buffer holds less than one whole packet; read more and try again.</summary>
    NeedMoreData,

    /// <summary>One packet was decoded; <c>consumed</c> bytes belong to it.</summary>
    Complete,

    /// <summary>The bytes cannot be a valid packet; the connection must be closed with an error.</summary>
    Invalid,
}
