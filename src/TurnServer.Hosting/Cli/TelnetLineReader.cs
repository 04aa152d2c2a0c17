using System.Buffers;
using System.Text;

namespace TurnServer.Hosting.Cli;

/// <summary>
/// Turns the bytes a telnet client sends (RFC 854) into command lines: IAC sequences are removed, option offers are
/// refused (IAC WILL x is answered IAC DONT x, IAC DO x is answered IAC WONT x, as coTURN's libtelnet table does for
/// every option), CR, LF, CR LF and CR NUL each end a line, and a line longer than <see cref="MaxLineLength"/> bytes is
/// cut there. Bytes are read as UTF-8. One instance per connection; not thread-safe.
/// </summary>
internal sealed class TelnetLineReader
{
    /// <summary>Longest line kept, in bytes; the rest of a longer line is dropped.</summary>
    public const int MaxLineLength = 1024;

    private const byte Se = 240;
    private const byte Sb = 250;
    private const byte Will = 251;
    private const byte Wont = 252;
    private const byte Do = 253;
    private const byte Dont = 254;
    private const byte Iac = 255;

    private readonly byte[] _line = new byte[MaxLineLength];
    private int _length;
    private State _state;
    private byte _command;
    private bool _afterCr;

    private enum State
    {
        Data,
        Iac,
        Option,
        Subnegotiation,
        SubnegotiationIac,
    }

    /// <summary>
    /// Reads <paramref name="input"/> whole: adds each line it completes to <paramref name="lines"/> and writes the
    /// answers to option offers to <paramref name="replies"/>. A partial line is kept for the next call.
    /// </summary>
    public void Read(ReadOnlySequence<byte> input, List<string> lines, IBufferWriter<byte> replies)
    {
        foreach (ReadOnlyMemory<byte> segment in input)
        {
            foreach (byte b in segment.Span)
            {
                Read(b, lines, replies);
            }
        }
    }

    private void Read(byte b, List<string> lines, IBufferWriter<byte> replies)
    {
        switch (_state)
        {
            case State.Data:
                if (b == Iac)
                {
                    _state = State.Iac;
                }
                else if (b is (byte)'\n' or 0 && _afterCr)
                {
                    _afterCr = false; // the second half of CR LF or CR NUL
                }
                else if (b is (byte)'\r' or (byte)'\n')
                {
                    _afterCr = b == '\r';
                    lines.Add(Encoding.UTF8.GetString(_line, 0, _length));
                    _length = 0;
                }
                else
                {
                    _afterCr = false;
                    if (b != 0 && _length < _line.Length)
                    {
                        _line[_length++] = b;
                    }
                }

                break;
            case State.Iac:
                if (b == Iac)
                {
                    _state = State.Data; // an escaped 255 in the data: not text a command uses
                }
                else if (b is Will or Wont or Do or Dont)
                {
                    _command = b;
                    _state = State.Option;
                }
                else
                {
                    _state = b == Sb ? State.Subnegotiation : State.Data;
                }

                break;
            case State.Option:
                if (_command is Will or Do)
                {
                    Span<byte> refusal = replies.GetSpan(3);
                    refusal[0] = Iac;
                    refusal[1] = _command == Will ? Dont : Wont;
                    refusal[2] = b;
                    replies.Advance(3);
                }

                _state = State.Data;
                break;
            case State.Subnegotiation:
                _state = b == Iac ? State.SubnegotiationIac : State.Subnegotiation;
                break;
            case State.SubnegotiationIac:
                _state = b == Se ? State.Data : State.Subnegotiation;
                break;
        }
    }
}
