using TurnServer.Hosting.Dtls;

namespace TurnServer.Hosting.Tests.Dtls;

public class DtlsRecordTests
{
    [Fact]
    public void An_initial_client_hello_is_recognised()
    {
        byte[] hello = DtlsTestRecords.ClientHello();
        Assert.True(DtlsRecord.StartsWithRecord(hello));
        Assert.True(DtlsRecord.IsInitialClientHello(hello));
        Assert.False(DtlsRecord.OffersOnlyOlderThanDtls12(hello, out _));
    }

    [Fact]
    public void Every_truncation_of_a_client_hello_is_refused()
    {
        byte[] hello = DtlsTestRecords.ClientHello();
        for (int length = 0; length < hello.Length; length++)
        {
            Assert.False(DtlsRecord.IsInitialClientHello(hello.AsSpan(0, length)), "prefix of " + length + " bytes");
            Assert.False(DtlsRecord.StartsWithRecord(hello.AsSpan(0, length)), "prefix of " + length + " bytes");
        }
    }

    [Fact]
    public void A_client_hello_answering_a_hello_verify_request_or_in_a_later_epoch_is_not_initial()
    {
        Assert.False(DtlsRecord.IsInitialClientHello(DtlsTestRecords.ClientHello(messageSeq: 1)));
        Assert.False(DtlsRecord.IsInitialClientHello(DtlsTestRecords.ClientHello(epoch: 1)));
    }

    [Theory]
    [InlineData(new byte[] { 0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 })] // STUN
    [InlineData(new byte[] { 0x40, 0x00, 0x00, 0x04, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0 })] // ChannelData
    [InlineData(new byte[] { 0x16, 0x03, 0x01, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0x00, 0x00 })] // TLS, not DTLS
    [InlineData(new byte[] { 0x1A, 0xFE, 0xFD, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0x00, 0x00 })] // content type 26
    public void Datagrams_that_are_not_dtls_records_are_refused(byte[] datagram)
    {
        Assert.False(DtlsRecord.StartsWithRecord(datagram));
        Assert.False(DtlsRecord.IsInitialClientHello(datagram));
    }

    [Fact]
    public void A_record_that_is_not_a_handshake_is_not_a_client_hello()
    {
        byte[] applicationData = DtlsTestRecords.Record(23, DtlsTestRecords.Dtls12, 1, new byte[48]);
        Assert.True(DtlsRecord.StartsWithRecord(applicationData));
        Assert.False(DtlsRecord.IsInitialClientHello(applicationData));
    }

    [Fact]
    public void A_dtls_1_0_client_hello_is_answered_with_a_fatal_protocol_version_alert()
    {
        byte[] hello = DtlsTestRecords.ClientHello(DtlsTestRecords.Dtls10);
        Assert.True(DtlsRecord.IsInitialClientHello(hello));
        Assert.True(DtlsRecord.OffersOnlyOlderThanDtls12(hello, out ushort recordVersion));

        byte[] alert = new byte[15];
        Assert.Equal(15, DtlsRecord.WriteProtocolVersionAlert(alert, recordVersion));
        Assert.Equal(new byte[] { 21, 0xFE, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 70 }, alert);
    }
}
