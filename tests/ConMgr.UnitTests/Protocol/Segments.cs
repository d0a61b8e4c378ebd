// Segments.cs: builds ReadOnlySequences with any segmentation, to test codecs against fragmented input.
using System.Buffers;

namespace ConMgr.UnitTests.Protocol;

internal static class Segments
{
    /// <summary>The bytes as a sequence of segments of <paramref name="size"/> bytes each.</summary>
    public static ReadOnlySequence<byte> Split(byte[] bytes, int size)
    {
        if (bytes.Length == 0)
        {
            return ReadOnlySequence<byte>.Empty;
        }

        Segment? first = null;
        Segment? last = null;
        for (var offset = 0; offset < bytes.Length; offset += size)
        {
            var segment = new Segment(bytes.AsMemory(offset, Math.Min(size, bytes.Length - offset)));
            if (last is null)
            {
                first = segment;
            }
            else
            {
                last.Append(segment);
            }

            last = segment;
        }

        return new ReadOnlySequence<byte>(first!, 0, last!, last!.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory) => Memory = memory;

        public void Append(Segment next)
        {
            next.RunningIndex = RunningIndex + Memory.Length;
            Next = next;
        }
    }
}
