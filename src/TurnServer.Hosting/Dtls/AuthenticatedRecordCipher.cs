using Org.BouncyCastle.Crypto.Tls;

namespace TurnServer.Hosting.Dtls;

/// <summary>
/// The record cipher a handshake negotiated, wrapped so that the client's records are authenticated before
/// BouncyCastle's record layer sees them. BouncyCastle 1.8.10 fails the whole session on a record whose MAC does not
/// verify, where RFC 6347 section 4.1.2.7 says to discard it silently: one datagram forged with the client's address
/// ended its session and its allocation. <see cref="DtlsDatagramTransport"/> drops such records with
/// <see cref="TryAuthenticate"/>; the plaintext of each record that verified is kept, so the record layer's own
/// <see cref="DecodeCiphertext"/> for it costs no second decryption. Used on the session's thread, under its record lock.
/// </summary>
internal sealed class AuthenticatedRecordCipher(TlsCipher inner) : TlsCipher
{
    private readonly List<(long SequenceNumber, byte[] Plaintext)> _verified = new(4);

    /// <inheritdoc />
    public int GetPlaintextLimit(int ciphertextLimit) => inner.GetPlaintextLimit(ciphertextLimit);

    /// <inheritdoc />
    public byte[] EncodePlaintext(long seqNo, byte type, byte[] plaintext, int offset, int len) => inner.EncodePlaintext(seqNo, type, plaintext, offset, len);

    /// <inheritdoc />
    public byte[] DecodeCiphertext(long seqNo, byte type, byte[] ciphertext, int offset, int len)
    {
        for (int i = 0; i < _verified.Count; i++)
        {
            if (_verified[i].SequenceNumber == seqNo)
            {
                byte[] plaintext = _verified[i].Plaintext;
                _verified.RemoveAt(i);
                return plaintext;
            }
        }

        return inner.DecodeCiphertext(seqNo, type, ciphertext, offset, len);
    }

    /// <summary>
    /// Decrypts and authenticates the fragment of one record (<paramref name="seqNo"/>: epoch in the top 16 bits,
    /// sequence number in the low 48, as the MAC covers them); false when it does not verify.
    /// </summary>
    public bool TryAuthenticate(long seqNo, byte type, byte[] ciphertext, int offset, int len)
    {
        try
        {
            _verified.Add((seqNo, inner.DecodeCiphertext(seqNo, type, ciphertext, offset, len)));
            return true;
        }
        catch (TlsFatalAlert)
        {
            return false;
        }
    }

    /// <summary>
    /// Forgets plaintexts the record layer never asked for (records it discarded as replays); called before each new
    /// datagram, when the records of the last one have all been read.
    /// </summary>
    public void ForgetUnclaimed() => _verified.Clear();
}
