using TurnServer.Stun;

namespace TurnServer.Core.Handlers;

/// <summary>
/// How the answer to one request is finished (RFC 8489 section 14 order): SOFTWARE, then MESSAGE-INTEGRITY or
/// MESSAGE-INTEGRITY-SHA256 with the request's key, then FINGERPRINT. A value, so an answer written later (Connect,
/// RFC 6062) is sealed exactly as an immediate one.
/// </summary>
internal readonly struct ResponseSeal
{
    private readonly byte[]? _software;
    private readonly byte[]? _key;
    private readonly bool _sha256;
    private readonly bool _fingerprint;

    /// <summary>
    /// Adds SOFTWARE when <paramref name="software"/> (UTF-8) is given; MESSAGE-INTEGRITY with <paramref name="key"/>, or
    /// MESSAGE-INTEGRITY-SHA256 when <paramref name="sha256"/>, when a key is given; FINGERPRINT when <paramref name="fingerprint"/>.
    /// </summary>
    public ResponseSeal(byte[]? software, byte[]? key, bool sha256, bool fingerprint)
    {
        _software = software;
        _key = key;
        _sha256 = sha256;
        _fingerprint = fingerprint;
    }

    /// <summary>Writes the sealing attributes at the end of <paramref name="writer"/>'s message; call it after every other attribute.</summary>
    public void Apply(ref StunMessageWriter writer)
    {
        if (_software is not null)
        {
            writer.WriteAttribute(StunAttributeType.Software, _software);
        }

        if (_key is not null)
        {
            if (_sha256)
            {
                writer.WriteMessageIntegritySha256(_key);
            }
            else
            {
                writer.WriteMessageIntegrity(_key);
            }
        }

        if (_fingerprint)
        {
            writer.WriteFingerprint();
        }
    }
}
