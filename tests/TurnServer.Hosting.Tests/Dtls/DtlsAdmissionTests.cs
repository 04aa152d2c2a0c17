using System.Net;
using TurnServer.Hosting.Dtls;
using TurnServer.Stun;

namespace TurnServer.Hosting.Tests.Dtls;

public class DtlsAdmissionTests
{
    private static readonly TransportAddress First = new(IPAddress.Parse("192.0.2.1"), 5000);
    private static readonly TransportAddress Second = new(IPAddress.Parse("192.0.2.2"), 5000);

    [Fact]
    public void One_address_gets_at_most_its_share_of_handshakes_and_other_addresses_still_get_in()
    {
        var admission = new DtlsAdmission(new DtlsLimits { MaxHandshakesPerAddress = 2 });
        Assert.True(admission.TryAdmit(First, out _));
        Assert.True(admission.TryAdmit(First.WithPort(5001), out _));

        Assert.False(admission.TryAdmit(First.WithPort(5002), out DtlsDropReason refusal));
        Assert.Equal(DtlsDropReason.AddressHandshakeLimit, refusal);
        Assert.True(admission.TryAdmit(Second, out _));

        admission.EndHandshake(First);
        Assert.True(admission.TryAdmit(First.WithPort(5002), out _));
    }

    [Fact]
    public void Handshakes_in_total_are_bounded_and_freed_when_they_end()
    {
        var admission = new DtlsAdmission(new DtlsLimits { MaxHandshakes = 1 });
        Assert.True(admission.TryAdmit(First, out _));
        Assert.False(admission.TryAdmit(Second, out DtlsDropReason refusal));
        Assert.Equal(DtlsDropReason.HandshakeLimit, refusal);

        admission.EndHandshake(First);
        Assert.Equal(0, admission.Handshakes);
        Assert.Equal(1, admission.Sessions); // established: holds its session slot, not a handshake slot
        Assert.True(admission.TryAdmit(Second, out _));
    }

    [Fact]
    public void Sessions_are_bounded_until_one_ends()
    {
        var admission = new DtlsAdmission(new DtlsLimits { MaxSessions = 1 });
        Assert.True(admission.TryAdmit(First, out _));
        admission.EndHandshake(First);

        Assert.False(admission.TryAdmit(Second, out DtlsDropReason refusal));
        Assert.Equal(DtlsDropReason.SessionLimit, refusal);

        admission.EndSession(First);
        Assert.True(admission.TryAdmit(Second, out _));
    }

    [Fact]
    public void One_address_holds_at_most_a_quarter_of_the_sessions_and_other_addresses_still_get_in()
    {
        var admission = new DtlsAdmission(new DtlsLimits { MaxSessions = 8 });
        Assert.Equal(2, admission.MaxSessionsPerAddress);
        for (ushort port = 5000; port < 5002; port++)
        {
            Assert.True(admission.TryAdmit(First.WithPort(port), out _));
            admission.EndHandshake(First); // established: the cap is on sessions, not only on handshakes
        }

        Assert.False(admission.TryAdmit(First.WithPort(5002), out DtlsDropReason refusal));
        Assert.Equal(DtlsDropReason.AddressSessionLimit, refusal);
        Assert.True(admission.TryAdmit(Second, out _));

        admission.EndSession(First.WithPort(5000));
        Assert.True(admission.TryAdmit(First.WithPort(5002), out _));
    }
}
