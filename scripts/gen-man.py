#!/usr/bin/env python3
"""The reference of libwabot's exported functions, from the header comments.

The comment block right before a WABOT_API declaration in
include/wabot/*.h describes it; declarations that follow it with no
comment of their own belong to the same family (one page, the others link
to it). A trailing `/**< ... */` on the declaration's own line counts too.

  gen-man.py --man OUTDIR SYMFILE      one section-3 page per exported
                                       symbol (family members: .so links)
  gen-man.py --markdown                print doc/reference.md
  gen-man.py --check-markdown FILE     exit 1 if FILE is not what
                                       --markdown prints
  gen-man.py --coverage SYMFILE        exit 1, listing them, if an
                                       exported symbol has no comment

The headers are found beside this script (../include/wabot) unless
--headers DIR is given. Pages of symbols without a comment are still
written (saying so), so a missing comment fails the `doc` test, not the
build.
"""
import argparse
import datetime
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TOKEN = re.compile(r'/\*.*?\*/|//[^\n]*|^[ \t]*#(?:[^\n]*\\\n)*[^\n]*|"(?:\\.|[^"\\])*"|.',
                   re.S | re.M)


class Entry:
    def __init__(self, header, decl, comment, raw=None):
        self.header = header
        self.decl = decl
        self.raw = raw or decl
        self.comment = comment
        name = re.search(r'\b(wabot_[a-z0-9_]+)\s*\(', decl)
        self.name = name.group(1) if name else None
        self.family = None
        self.trailing = False    # described by a /**< */ after it: its own only


def clean_comment(text):
    """The text of a /* */ comment without its markers and leading stars."""
    body = text[2:-2]
    if body.startswith('*') and not body.startswith('*/'):
        body = body[1:]
    if body.startswith('<'):
        body = body[1:]
    lines = body.split('\n')
    out = []
    for line in lines:
        line = re.sub(r'^\s*\* ?', '', line) if re.match(r'^\s*\*', line) \
            else line.strip() if not out else line
        out.append(line.rstrip())
    # Common indentation of the continuation lines (comments written
    # without leading stars).
    rest = [l for l in out[1:] if l.strip()]
    if rest:
        indent = min(len(l) - len(l.lstrip()) for l in rest)
        out = [out[0].strip()] + [l[indent:] for l in out[1:]]
    while out and not out[0].strip():
        out.pop(0)
    while out and not out[-1].strip():
        out.pop()
    return '\n'.join(out)


def parse_header(path, rel):
    """Entries (one per WABOT_API function declaration) of one header."""
    with open(path, encoding='utf-8') as f:
        src = f.read()
    # The C++ guards open and close a brace around the whole header.
    src = re.sub(r'#ifdef __cplusplus\s*extern "C" \{\s*#endif', '', src)
    src = re.sub(r'#ifdef __cplusplus\s*\}\s*#endif', '', src)
    entries = []
    last_comment = None      # (text, end offset)
    stmt_start = None        # offset where the current statement began
    depth = 0
    prev_entry_end = None    # offset just after the previous WABOT_API decl
                             # (and its trailing comment)
    for m in TOKEN.finditer(src):
        tok = m.group(0)
        if tok.startswith('/*'):
            # A declaration's trailing comment is its own, not the next's.
            if stmt_start is None and depth == 0 and \
                    (prev_entry_end is None or m.start() >= prev_entry_end):
                last_comment = (tok, m.end())
            continue
        if tok.startswith('//') or tok.lstrip().startswith('#'):
            if stmt_start is None:
                last_comment = None
                prev_entry_end = None
            continue
        if tok.isspace():
            continue
        if stmt_start is None:
            stmt_start = m.start()
        if tok in '{(':
            depth += 1
        elif tok in '})':
            depth -= 1
        elif tok == ';' and depth == 0:
            stmt = src[stmt_start:m.end()]
            if 'WABOT_API' in stmt:
                decl = ' '.join(stmt.split())
                comment = None
                if last_comment and src[last_comment[1]:stmt_start].strip() == '':
                    comment = last_comment[0]
                # A trailing comment on the same line.
                tail = re.match(r'[ \t]*(/\*\*<.*?\*/)', src[m.end():], re.S)
                tail_comment = None
                if comment is None and tail:
                    comment = tail_comment = tail.group(1)
                e = Entry(rel, decl, clean_comment(comment) if comment else None,
                          synopsis(stmt))
                if e.name:
                    if comment is None and prev_entry_end is not None and \
                            '\n\n' not in src[prev_entry_end:stmt_start] and \
                            src[prev_entry_end:stmt_start].strip() == '' and \
                            entries and entries[-1].family is not None and \
                            not entries[-1].family.trailing:
                        e.family = entries[-1].family
                    elif comment is not None:
                        e.family = e
                        e.trailing = comment is tail_comment
                    entries.append(e)
                prev_entry_end = m.end()
                if tail:
                    prev_entry_end = m.end() + tail.end()
                last_comment = None
            else:
                prev_entry_end = None
                last_comment = None
            stmt_start = None
    return entries


def synopsis(stmt):
    """The declaration as written, without WABOT_API (continuation lines
    move left by as much)."""
    lines = stmt.strip().split('\n')
    lines[0] = lines[0].replace('WABOT_API ', '', 1)
    shift = len('WABOT_API ')
    out = [lines[0]]
    for line in lines[1:]:
        lead = len(line) - len(line.lstrip(' '))
        out.append(line[min(lead, shift):].rstrip())
    return '\n'.join(out)


def parse_all(headers_dir):
    entries = []
    for name in sorted(os.listdir(headers_dir)):
        if name.endswith('.h'):
            entries += parse_header(os.path.join(headers_dir, name),
                                    'wabot/' + name)
    return entries


def read_symbols(symfile):
    with open(symfile, encoding='utf-8') as f:
        return sorted(set(re.findall(r'^\s*(wabot_[a-z0-9_]+);', f.read(), re.M)))


def families(entries):
    """Ordered {head entry: [members]} for the documented entries."""
    fams = {}
    for e in entries:
        if e.family is not None:
            fams.setdefault(id(e.family), (e.family, []))[1].append(e)
    return [v for v in fams.values()]


def summary(text):
    """The first sentence of a comment, on one line (a full stop, colon or
    semicolon outside parentheses and quotes ends it)."""
    one = ' '.join(text.split())
    depth = 0
    quote = None
    end = len(one)
    for i, c in enumerate(one):
        if quote:
            if c == quote:
                quote = None
        elif c in '"`':
            quote = c
        elif c == '(':
            depth += 1
        elif c == ')':
            depth = max(0, depth - 1)
        elif c in '.:;' and depth == 0 and (i + 1 == len(one) or one[i + 1] == ' '):
            end = i
            break
    s = one[:end]
    if len(s) > 160:
        s = s[:157].rsplit(' ', 1)[0] + '...'
    return s


# ---------------------------------------------------------------- man pages

def roff_escape(line):
    line = line.replace('\\', '\\e')
    line = line.replace('-', '\\-')
    if line.startswith(('.', "'")):
        line = '\\&' + line
    # Non-ASCII as named Unicode escapes: the page reads the same whatever
    # the input encoding groff assumes.
    return ''.join(c if ord(c) < 128 else '\\[u%04X]' % ord(c) for c in line)


def man_page(head, members, version, date):
    names = ', '.join(m.name for m in members)
    out = ['.\\" Generated by scripts/gen-man.py from <%s>; do not edit.' % head.header,
           '.TH %s 3 "%s" "libwabot %s" "libwabot Manual"'
           % (head.name.upper().replace('_', '\\_'), date, version),
           '.nh',
           '.ad l',
           '.SH NAME',
           '%s \\- %s' % (roff_escape(names), roff_escape(summary(head.comment))),
           '.SH SYNOPSIS',
           '.nf',
           '.B #include <%s>' % head.header,
           '.PP']
    for m in members:
        out += [roff_escape(l) for l in m.raw.split('\n')]
    out += ['.fi',
            '.PP',
            'Link with \\fI\\-lwabot\\fP (\\fIpkg\\-config \\-\\-libs wabot\\fP).',
            '.SH DESCRIPTION',
            '.nf']
    for line in head.comment.split('\n'):
        out.append(roff_escape(line) if line.strip() else '')
    out += ['.fi',
            '.SH SEE ALSO',
            'The header <%s>; doc/errors.md for status codes; the guides under doc/.'
            % head.header]
    return '\n'.join(out) + '\n'


def placeholder_page(name, header, version, date):
    return ('.TH %s 3 "%s" "libwabot %s" "libwabot Manual"\n.SH NAME\n'
            '%s \\- undocumented\n.SH DESCRIPTION\nNo header comment describes '
            'this function yet (see <%s>).\n'
            % (name.upper().replace('_', '\\_'), date, version,
               roff_escape(name), header or 'wabot.h'))


def write_man(outdir, symfile, entries, version, date):
    os.makedirs(outdir, exist_ok=True)
    by_name = {e.name: e for e in entries}
    pages = {}
    for head, members in families(entries):
        pages[head.name] = man_page(head, members, version, date)
        for m in members[1:]:
            pages[m.name] = '.so man3/%s.3\n' % head.name
    for sym in read_symbols(symfile):
        text = pages.get(sym)
        if text is None:
            e = by_name.get(sym)
            text = placeholder_page(sym, e.header if e else None, version, date)
        path = os.path.join(outdir, sym + '.3')
        old = None
        if os.path.exists(path):
            with open(path, encoding='utf-8') as f:
                old = f.read()
        if old != text:
            with open(path, 'w', encoding='utf-8') as f:
                f.write(text)


# ----------------------------------------------------------------- markdown

def markdown(entries):
    out = ['# libwabot reference',
           '',
           'Every exported function, grouped by header, with the comment that',
           'describes it in the header. Generated by `scripts/gen-man.py --markdown`',
           'from include/wabot/*.h (do not edit; the `doc` test `reference-doc`',
           'checks it is up to date, and `reference-coverage` that every exported',
           'symbol has an entry). The same text is installed as section-3 man',
           'pages: `man wabot_ctx_new`. Conventions shared by every function',
           '(status codes, who frees what) are at the top of',
           '[core](#wabotcoreh); status codes in [errors.md](errors.md).',
           '']
    by_header = {}
    for head, members in families(entries):
        by_header.setdefault(head.header, []).append((head, members))
    out.append('## Headers')
    out.append('')
    for h in sorted(by_header):
        anchor = re.sub(r'[^a-z0-9_-]', '', h.lower())
        out.append('- [`<%s>`](#%s) (%d functions)'
                   % (h, anchor, sum(len(m) for _, m in by_header[h])))
    out.append('')
    for h in sorted(by_header):
        out.append('## %s' % h)
        out.append('')
        for head, members in by_header[h]:
            out.append('### ' + ', '.join('`%s`' % m.name for m in members))
            out.append('')
            out.append('```c')
            for m in members:
                out.append(m.raw)
            out.append('```')
            out.append('')
            out.append('```text')
            out.append(head.comment)
            out.append('```')
            out.append('')
    return '\n'.join(out).rstrip('\n') + '\n'


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--headers', default=os.path.join(ROOT, 'include', 'wabot'))
    ap.add_argument('--version', default=None)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument('--man', nargs=2, metavar=('OUTDIR', 'SYMFILE'))
    g.add_argument('--markdown', action='store_true')
    g.add_argument('--check-markdown', metavar='FILE')
    g.add_argument('--coverage', metavar='SYMFILE')
    a = ap.parse_args()
    entries = parse_all(a.headers)

    if a.coverage:
        documented = {e.name for e in entries if e.family is not None}
        missing = [s for s in read_symbols(a.coverage) if s not in documented]
        for s in missing:
            where = next((e.header for e in entries if e.name == s), None)
            print('no reference entry: %s%s' % (
                s, ' (<%s>: no comment before its declaration)' % where
                if where else ' (declared in no public header)'))
        n = len(read_symbols(a.coverage))
        if missing:
            print('%d of %d exported symbols have no reference entry'
                  % (len(missing), n))
            return 1
        print('all %d exported symbols have a reference entry' % n)
        return 0
    if a.markdown:
        sys.stdout.write(markdown(entries))
        return 0
    if a.check_markdown:
        with open(a.check_markdown, encoding='utf-8') as f:
            have = f.read()
        if have != markdown(entries):
            print('%s is stale: run python3 scripts/gen-man.py --markdown > '
                  'doc/reference.md' % a.check_markdown)
            return 1
        print('%s matches the headers' % a.check_markdown)
        return 0
    version = a.version
    if version is None:
        with open(os.path.join(ROOT, 'meson.build'), encoding='utf-8') as f:
            version = re.search(r"version\s*:\s*'([^']+)'", f.read()).group(1)
    # The page date: SOURCE_DATE_EPOCH (reproducible builds), else today.
    epoch = os.environ.get('SOURCE_DATE_EPOCH')
    utc = datetime.timezone.utc
    when = datetime.datetime.fromtimestamp(int(epoch), utc) if epoch \
        else datetime.datetime.now(utc)
    write_man(a.man[0], a.man[1], entries, version, when.strftime('%Y-%m-%d'))
    return 0


if __name__ == '__main__':
    sys.exit(main())
