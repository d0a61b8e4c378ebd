// Fuzz.cs: random inputs for the decoders' bounded fuzz tests: mutations of valid input, random bytes, hostile length words.
using System.Buffers.Binary;

namespace ConMgr.Testing;

public static class Fuzz
{
    /// <summary>Lengths an attacker would try in a length word.</summary>
    public static readonly int[] HostileLengths = [0, 1, 3, 4, 5, 7, 8, 9, 255, 256, 1023, 1024, 1025, 10_000, 65535, 65536, int.MaxValue, int.MaxValue - 1, int.MinValue, -1, -4];

    /// <summary>
    /// One random input derived from <paramref name="seed"/>: flipped bytes, a hostile length
    /// word written at a random offset, truncation, extension with random bytes, or pure noise.
    /// </summary>
    public static byte[] Mutate(Random random, byte[] seed, int maxLength)
    {
        var bytes = seed.ToArray();
        switch (random.Next(6))
        {
            case 0:
                for (var flips = 1 + random.Next(4); flips > 0 && bytes.Length > 0; flips--)
                {
                    bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
                }

                break;
            case 1 when bytes.Length >= 4:
                BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(random.Next(bytes.Length - 3)), HostileLengths[random.Next(HostileLengths.Length)]);
                break;
            case 2:
                bytes = bytes[..random.Next(bytes.Length + 1)];
                break;
            case 3:
                var tail = new byte[random.Next(64)];
                random.NextBytes(tail);
                bytes = [.. bytes, .. tail];
                break;
            default:
                bytes = new byte[random.Next(maxLength)];
                random.NextBytes(bytes);
                break;
        }

        return bytes.Length > maxLength ? bytes[..maxLength] : bytes;
    }
}
