using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Modes;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Crypto.Tls;

namespace TurnServer.Hosting.Dtls;

/// <summary>
/// BouncyCastle's cipher factory, with AES-GCM that survives a record failing authentication. BouncyCastle 1.8.10's
/// <see cref="GcmBlockCipher"/> does not reset itself when its tag check fails, and <see cref="TlsAeadCipher"/> sizes
/// the next record's output from that stale state, so the record after a forged one failed too. BouncyCastle never
/// met this, as it ends the session at the first bad record; <see cref="AuthenticatedRecordCipher"/> drops it instead.
/// </summary>
internal sealed class RecoveringCipherFactory : DefaultTlsCipherFactory
{
    /// <inheritdoc />
    protected override IAeadBlockCipher CreateAeadBlockCipher_Aes_Gcm() => new ResettingAeadCipher(base.CreateAeadBlockCipher_Aes_Gcm());

    /// <summary>An AEAD cipher that resets after a failed tag check, as after a successful one.</summary>
    private sealed class ResettingAeadCipher(IAeadBlockCipher inner) : IAeadBlockCipher
    {
        public string AlgorithmName => inner.AlgorithmName;

        public IBlockCipher GetUnderlyingCipher() => inner.GetUnderlyingCipher();

        public void Init(bool forEncryption, ICipherParameters parameters) => inner.Init(forEncryption, parameters);

        public int GetBlockSize() => inner.GetBlockSize();

        public void ProcessAadByte(byte input) => inner.ProcessAadByte(input);

        public void ProcessAadBytes(byte[] inBytes, int inOff, int len) => inner.ProcessAadBytes(inBytes, inOff, len);

        public int ProcessByte(byte input, byte[] outBytes, int outOff) => inner.ProcessByte(input, outBytes, outOff);

        public int ProcessBytes(byte[] inBytes, int inOff, int len, byte[] outBytes, int outOff) => inner.ProcessBytes(inBytes, inOff, len, outBytes, outOff);

        public int DoFinal(byte[] outBytes, int outOff)
        {
            try
            {
                return inner.DoFinal(outBytes, outOff);
            }
            catch (InvalidCipherTextException)
            {
                inner.Reset();
                throw;
            }
        }

        public byte[] GetMac() => inner.GetMac();

        public int GetUpdateOutputSize(int len) => inner.GetUpdateOutputSize(len);

        public int GetOutputSize(int len) => inner.GetOutputSize(len);

        public void Reset() => inner.Reset();
    }
}
