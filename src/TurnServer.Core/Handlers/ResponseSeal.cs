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

    public ResponseSeal(byte[]? software, byte[]? key, bool sha256, bool fingerprint)
    {
        _software = software;
        _key = key;
        _sha256 = sha256;
        _fingerprint = fingerprint;
    }

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
