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
    public void The_first_record_of_a_datagram_is_cut_from_what_follows_it()
    {
        byte[] hello = DtlsTestRecords.ClientHello();
        byte[] alert = DtlsTestRecords.Record(21, DtlsTestRecords.Dtls12, 0, [2, 40], sequence: 1);
        Assert.Equal(hello, DtlsRecord.FirstRecord([.. hello, .. alert]).ToArray());
        Assert.Equal(hello, DtlsRecord.FirstRecord(hello).ToArray());
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

    /// <summary>How OpenSSL sends a client's second flight: ClientKeyExchange, ChangeCipherSpec and Finished in one datagram.</summary>
    [Fact]
    public void A_change_cipher_spec_is_found_in_any_record_of_a_datagram_and_the_first_record_gives_the_epoch()
    {
        byte[] keyExchange = DtlsTestRecords.Record(22, DtlsTestRecords.Dtls12, 0, new byte[79]);
        byte[] changeCipherSpec = DtlsTestRecords.Record(20, DtlsTestRecords.Dtls12, 0, [1], sequence: 1);
        byte[] finished = DtlsTestRecords.Record(22, DtlsTestRecords.Dtls12, 1, new byte[48]);
        byte[] flight = [.. keyExchange, .. changeCipherSpec, .. finished];

        Assert.True(DtlsRecord.ContainsChangeCipherSpec(flight));
        Assert.True(DtlsRecord.ContainsChangeCipherSpec(changeCipherSpec));
        Assert.False(DtlsRecord.ContainsChangeCipherSpec(keyExchange));
        Assert.False(DtlsRecord.ContainsChangeCipherSpec([.. keyExchange, .. finished]));
        Assert.Equal(0, DtlsRecord.Epoch(flight));
        Assert.Equal(1, DtlsRecord.Epoch(finished));
    }

    [Fact]
    public void A_record_whose_length_overruns_the_datagram_ends_the_walk()
    {
        byte[] keyExchange = DtlsTestRecords.Record(22, DtlsTestRecords.Dtls12, 0, new byte[79]);
        byte[] changeCipherSpec = DtlsTestRecords.Record(20, DtlsTestRecords.Dtls12, 0, [1]);
        keyExchange[12] += 1; // one byte longer than it is: the ChangeCipherSpec after it is not a record boundary

        Assert.False(DtlsRecord.ContainsChangeCipherSpec([.. keyExchange, .. changeCipherSpec]));
        Assert.False(DtlsRecord.ContainsChangeCipherSpec(changeCipherSpec.AsSpan(0, 13)));
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
