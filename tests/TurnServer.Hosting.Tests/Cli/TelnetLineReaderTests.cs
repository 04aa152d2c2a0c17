using System.Buffers;
using System.Text;
using TurnServer.Hosting.Cli;

namespace TurnServer.Hosting.Tests.Cli;

public class TelnetLineReaderTests
{
    [Fact]
    public void Each_line_ending_ends_one_line_and_a_partial_line_waits_for_the_next_read()
    {
        var reader = new TelnetLineReader();
        var lines = new List<string>();
        var replies = new ArrayBufferWriter<byte>();

        reader.Read(Bytes("ps alice\r\npu\r\0lr\npc\rq"), lines, replies);
        Assert.Equal(["ps alice", "pu", "lr", "pc"], lines);

        lines.Clear();
        reader.Read(Bytes("uit\r\n\r\n"), lines, replies);
        Assert.Equal(["quit", string.Empty], lines); // the second CR LF is an empty line, which shows the prompt again
        Assert.Equal(0, replies.WrittenCount);
    }

    [Fact]
    public void Option_offers_are_refused_and_every_telnet_command_is_removed_from_the_text()
    {
        var reader = new TelnetLineReader();
        var lines = new List<string>();
        var replies = new ArrayBufferWriter<byte>();
        byte[] input =
        [
            255, 251, 24, // IAC WILL TERMINAL-TYPE
            255, 253, 1, // IAC DO ECHO
            255, 252, 3, // IAC WONT SUPPRESS-GO-AHEAD: nothing to answer
            255, 250, 31, 0, 80, 0, 24, 255, 240, // IAC SB NAWS 80x24 IAC SE
            (byte)'p', 255, 241, (byte)'s', // IAC NOP inside the text
            (byte)'\r', (byte)'\n',
        ];

        reader.Read(new ReadOnlySequence<byte>(input), lines, replies);

        Assert.Equal(["ps"], lines);
        Assert.Equal(new byte[] { 255, 254, 24, 255, 252, 1 }, replies.WrittenSpan.ToArray()); // DONT TERMINAL-TYPE, WONT ECHO
    }

    [Fact]
    public void Any_segmentation_of_the_input_gives_the_same_lines_and_replies()
    {
        byte[] input = [.. Raw("secret\r\n"), 255, 251, 31, .. Raw("ps bob\r\0"), 255, 250, 24, 0, 255, 240, .. Raw("quit\r\n")];
        var random = new Random(1234);
        for (int trial = 0; trial < 200; trial++)
        {
            var reader = new TelnetLineReader();
            var lines = new List<string>();
            var replies = new ArrayBufferWriter<byte>();
            int offset = 0;
            while (offset < input.Length)
            {
                int length = random.Next(1, input.Length - offset + 1);
                reader.Read(new ReadOnlySequence<byte>(input, offset, length), lines, replies);
                offset += length;
            }

            Assert.Equal(["secret", "ps bob", "quit"], lines);
            Assert.Equal(new byte[] { 255, 254, 31 }, replies.WrittenSpan.ToArray());
        }
    }

    [Fact]
    public void A_line_longer_than_the_limit_is_cut_at_the_limit()
    {
        var reader = new TelnetLineReader();
        var lines = new List<string>();
        reader.Read(Bytes(new string('x', TelnetLineReader.MaxLineLength + 500) + "\r\nq\r\n"), lines, new ArrayBufferWriter<byte>());

        Assert.Equal([new string('x', TelnetLineReader.MaxLineLength), "q"], lines);
    }

    private static ReadOnlySequence<byte> Bytes(string text) => new(Raw(text));

    private static byte[] Raw(string text) => Encoding.UTF8.GetBytes(text);
}
