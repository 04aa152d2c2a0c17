using System.Text;
using System.Text.Encodings.Web;

namespace TurnServer.Hosting.WebAdmin;

/// <summary>
/// One HTML page of the web admin interface. Everything that is not markup written here (user names, realms,
/// addresses, secrets) goes through <see cref="Text"/>, HTML-encoded, so a user name cannot inject markup; forms that
/// change something carry the login's CSRF token.
/// </summary>
internal sealed class WebAdminPage
{
    private readonly StringBuilder _html = new();
    private readonly string? _csrf;

    /// <summary>A page titled <paramref name="title"/>; with a <paramref name="login"/>, the navigation and log-out form too.</summary>
    public WebAdminPage(string title, WebAdminLogin? login)
    {
        _csrf = login?.CsrfToken;
        _html.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>TurnServer: ");
        Text(title).Raw("</title><style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}")
            .Raw("td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}form.inline{display:inline}</style></head><body>\n");
        if (login is not null)
        {
            Raw("<nav><a href=\"/\">Status</a> | <a href=\"/sessions\">Sessions</a> | <a href=\"/users\">Users</a> | <a href=\"/secrets\">Secrets</a> | ");
            Text(login.Name);
            if (!login.IsSuperuser)
            {
                Raw(" (realm ").Text(login.Realm).Raw(")");
            }

            Raw(" ");
            Form("/logout", "Log out");
            Raw("</nav>\n");
        }

        Raw("<h1>").Text(title).Raw("</h1>\n");
    }

    /// <summary>Appends markup as it is.</summary>
    public WebAdminPage Raw(string html)
    {
        _html.Append(html);
        return this;
    }

    /// <summary>Appends <paramref name="text"/>, HTML-encoded.</summary>
    public WebAdminPage Text(string? text)
    {
        _html.Append(HtmlEncoder.Default.Encode(text ?? string.Empty));
        return this;
    }

    /// <summary>A paragraph of text.</summary>
    public WebAdminPage Paragraph(string text) => Raw("<p>").Text(text).Raw("</p>\n");

    /// <summary>A table row of text cells (<c>th</c> when <paramref name="header"/>), left open for more cells when <paramref name="open"/>.</summary>
    public WebAdminPage Row(bool header, bool open, params string?[] cells)
    {
        Raw("<tr>");
        foreach (string? cell in cells)
        {
            Raw(header ? "<th>" : "<td>").Text(cell).Raw(header ? "</th>" : "</td>");
        }

        return open ? this : Raw("</tr>\n");
    }

    /// <summary>
    /// A POST form to <paramref name="action"/> with the CSRF token, the hidden <paramref name="hidden"/> fields, and a
    /// submit button labelled <paramref name="button"/>.
    /// </summary>
    public WebAdminPage Form(string action, string button, params (string Name, string Value)[] hidden)
    {
        OpenForm(action, inline: true);
        foreach ((string name, string value) in hidden)
        {
            Raw("<input type=\"hidden\" name=\"").Text(name).Raw("\" value=\"").Text(value).Raw("\">");
        }

        return Raw("<button type=\"submit\">").Text(button).Raw("</button></form>");
    }

    /// <summary>
    /// A POST form to <paramref name="action"/> with the CSRF token and labelled inputs (<paramref name="fields"/>: name,
    /// label, input type, initial value), and a submit button.
    /// </summary>
    public WebAdminPage InputForm(string action, string button, params (string Name, string Label, string Type, string Value)[] fields)
    {
        OpenForm(action, inline: false);
        foreach ((string name, string label, string type, string value) in fields)
        {
            Raw("<label>").Text(label).Raw(" <input name=\"").Text(name).Raw("\" type=\"").Text(type).Raw("\" value=\"").Text(value).Raw("\" required></label> ");
        }

        return Raw("<button type=\"submit\">").Text(button).Raw("</button></form>\n");
    }

    /// <summary>The page's HTML, closed.</summary>
    public override string ToString() => _html.ToString() + "</body></html>\n";

    private void OpenForm(string action, bool inline)
    {
        Raw(inline ? "<form class=\"inline\" method=\"post\" action=\"" : "<form method=\"post\" action=\"").Text(action).Raw("\">");
        if (_csrf is not null)
        {
            Raw("<input type=\"hidden\" name=\"").Raw(WebAdminServer.CsrfField).Raw("\" value=\"").Text(_csrf).Raw("\">");
        }
    }
}
