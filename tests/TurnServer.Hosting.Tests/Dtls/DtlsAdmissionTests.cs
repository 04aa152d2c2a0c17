using System.Net;
using TurnServer.Hosting.Dtls;
using TurnServer.Hosting.Tests.Infrastructure;
using TurnServer.Stun;

namespace TurnServer.Hosting.Tests.Dtls;

public class DtlsAdmissionTests
{
    private static readonly TransportAddress First = new(IPAddress.Parse("192.0.2.1"), 5000);
    private static readonly TransportAddress Second = new(IPAddress.Parse("192.0.2.2"), 5000);

    [Fact]
    public void One_address_gets_at_most_its_share_of_handshakes_and_other_addresses_still_get_in()
    {
        var admission = new DtlsAdmission(new DtlsLimits { MaxHandshakesPerAddress = 2 }, TimeProvider.System);
        Assert.True(admission.TryAdmit(First, out _));
        Assert.True(admission.TryAdmit(First.WithPort(5001), out _));

        Assert.False(admission.TryAdmit(First.WithPort(5002), out DtlsDropReason refusal));
        Assert.Equal(DtlsDropReason.AddressHandshakeLimit, refusal);
        Assert.True(admission.TryAdmit(Second, out _));

        admission.EndHandshake(First, completed: true);
        Assert.True(admission.TryAdmit(First.WithPort(5002), out _));
    }

    [Fact]
    public void Handshakes_in_total_are_bounded_and_freed_when_they_end()
    {
        var admission = new DtlsAdmission(new DtlsLimits { MaxHandshakes = 1 }, TimeProvider.System);
        Assert.True(admission.TryAdmit(First, out _));
        Assert.False(admission.TryAdmit(Second, out DtlsDropReason refusal));
        Assert.Equal(DtlsDropReason.HandshakeLimit, refusal);

        admission.EndHandshake(First, completed: true);
        Assert.Equal(0, admission.Handshakes);
        Assert.Equal(1, admission.Sessions); // established: holds its session slot, not a handshake slot
        Assert.True(admission.TryAdmit(Second, out _));
    }

    [Fact]
    public void Sessions_are_bounded_until_one_ends()
    {
        var admission = new DtlsAdmission(new DtlsLimits { MaxSessions = 1 }, TimeProvider.System);
        Assert.True(admission.TryAdmit(First, out _));
        admission.EndHandshake(First, completed: true);

        Assert.False(admission.TryAdmit(Second, out DtlsDropReason refusal));
        Assert.Equal(DtlsDropReason.SessionLimit, refusal);

        admission.EndSession(First);
        Assert.True(admission.TryAdmit(Second, out _));
    }

    [Fact]
    public void One_address_holds_at_most_a_quarter_of_the_sessions_and_other_addresses_still_get_in()
    {
        var admission = new DtlsAdmission(new DtlsLimits { MaxSessions = 8 }, TimeProvider.System);
        Assert.Equal(2, admission.MaxSessionsPerAddress);
        for (ushort port = 5000; port < 5002; port++)
        {
            Assert.True(admission.TryAdmit(First.WithPort(port), out _));
            admission.EndHandshake(First, completed: true); // established: the cap is on sessions, not only on handshakes
        }

        Assert.False(admission.TryAdmit(First.WithPort(5002), out DtlsDropReason refusal));
        Assert.Equal(DtlsDropReason.AddressSessionLimit, refusal);
        Assert.True(admission.TryAdmit(Second, out _));

        admission.EndSession(First.WithPort(5000));
        Assert.True(admission.TryAdmit(First.WithPort(5002), out _));
    }

    /// <summary>
    /// An IPv6 source holds its share by its /64, as TCP and TLS connections do: one host picks its source from 2^64
    /// addresses, so a share per address would bound nothing.
    /// </summary>
    [Fact]
    public void Ipv6_sources_in_one_64_bit_prefix_share_one_address_share()
    {
        var admission = new DtlsAdmission(new DtlsLimits { MaxHandshakesPerAddress = 2 }, TimeProvider.System);
        TransportAddress one = new(IPAddress.Parse("2001:db8:1:2::1"), 5000);
        TransportAddress another = new(IPAddress.Parse("2001:db8:1:2:abcd::7"), 5000);
        Assert.True(admission.TryAdmit(one, out _));
        Assert.True(admission.TryAdmit(another, out _));

        Assert.False(admission.TryAdmit(new TransportAddress(IPAddress.Parse("2001:db8:1:2::99"), 5000), out DtlsDropReason refusal));
        Assert.Equal(DtlsDropReason.AddressHandshakeLimit, refusal);
        Assert.True(admission.TryAdmit(new TransportAddress(IPAddress.Parse("2001:db8:1:3::1"), 5000), out _));

        admission.EndHandshake(another, completed: true);
        Assert.True(admission.TryAdmit(new TransportAddress(IPAddress.Parse("2001:db8:1:2::99"), 5000), out _));
    }

    /// <summary>
    /// Regression: handshakes that fail at once (a forged ClientHello and an alert) freed their slots at once, so the
    /// per-address cap bounded nothing over time. Starts per address are now rate-limited, refilling evenly.
    /// </summary>
    [Fact]
    public void One_address_starts_at_most_its_burst_of_handshakes_then_one_per_refill_period()
    {
        var clock = new ManualClock();
        var limits = new DtlsLimits { HandshakeStartsPerAddress = 4, HandshakeStartWindow = TimeSpan.FromSeconds(8) };
        var admission = new DtlsAdmission(limits, clock);
        for (int start = 0; start < 4; start++)
        {
            Assert.True(admission.TryAdmit(First, out _));
            admission.EndHandshake(First, completed: false); // failed at once: the slots are free, the start is spent
            admission.EndSession(First);
        }

        Assert.False(admission.TryAdmit(First, out DtlsDropReason refusal));
        Assert.Equal(DtlsDropReason.AddressStartRate, refusal);
        Assert.Equal(0, admission.Sessions);
        Assert.True(admission.TryAdmit(Second, out _));

        clock.Advance(TimeSpan.FromSeconds(1.9));
        Assert.False(admission.TryAdmit(First, out _));
        clock.Advance(TimeSpan.FromSeconds(0.1)); // one refill period: 8 s / 4
        Assert.True(admission.TryAdmit(First, out _));
        Assert.False(admission.TryAdmit(First, out _));
    }

    [Fact]
    public void A_completed_handshake_gives_its_start_back()
    {
        var limits = new DtlsLimits { HandshakeStartsPerAddress = 2 };
        var admission = new DtlsAdmission(limits, new ManualClock());
        for (int start = 0; start < 5; start++)
        {
            Assert.True(admission.TryAdmit(First, out _));
            admission.EndHandshake(First, completed: true); // clients behind one NAT, each proving its address
            admission.EndSession(First);
        }

        Assert.True(admission.TryAdmit(First, out _));
        admission.EndHandshake(First, completed: false);
        Assert.True(admission.TryAdmit(First, out _));
        admission.EndHandshake(First, completed: false);
        Assert.False(admission.TryAdmit(First, out _));
    }
}
