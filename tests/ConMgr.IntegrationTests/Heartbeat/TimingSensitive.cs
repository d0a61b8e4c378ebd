// TimingSensitive.cs: tests that assert detection bounds run alone, not beside cluster builds competing for 2 cores.
namespace ConMgr.IntegrationTests.Heartbeat;

/// <summary>
/// xunit runs this collection after the parallel ones, with nothing beside it: a bound like
/// "timeout + 500 ms" must measure conmgr and the watchdog, not initdb in the next test.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TimingSensitive
{
    public const string Name = "timing-sensitive";
}
