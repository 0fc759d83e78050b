#!/usr/bin/env python3
"""scripts/gen-man.py reads header comments as documented: a comment right
before a declaration describes it and the declarations that follow it
line by line; a blank line or another statement ends the family; a
trailing /**< */ describes only its own declaration; the C++ guard's
brace does not hide declarations. Run: test_gen_man.py SCRIPT"""
import os
import subprocess
import sys
import tempfile

HEADER = '''#ifndef T_H
#define T_H
#ifdef __cplusplus
extern "C" {
#endif
/* ---- section banner ---- */

/** A does a. Owned by nobody. */
WABOT_API int wabot_a(void);
WABOT_API int wabot_a2(int x,
                       int y);

WABOT_API int wabot_lonely(void);
WABOT_API int wabot_t(void); /**< T only. */
WABOT_API int wabot_after_trailing(void);
/** Struct doc. */
typedef struct wabot_s { int (*fn)(void); } wabot_s;
WABOT_API int wabot_after_struct(void);
#ifdef __cplusplus
}
#endif
#endif
'''
SYMS = ['wabot_a', 'wabot_a2', 'wabot_lonely', 'wabot_t',
        'wabot_after_trailing', 'wabot_after_struct']


def main():
    script = sys.argv[1]
    failures = []
    with tempfile.TemporaryDirectory() as d:
        os.mkdir(os.path.join(d, 'h'))
        with open(os.path.join(d, 'h', 't.h'), 'w') as f:
            f.write(HEADER)
        sym = os.path.join(d, 'libwabot.sym')
        with open(sym, 'w') as f:
            f.write('WABOT_0.1 {\n  global:\n%s  local:\n    *;\n};\n'
                    % ''.join('    %s;\n' % s for s in SYMS))
        run = lambda *a: subprocess.run(
            [sys.executable, script, '--headers', os.path.join(d, 'h')] + list(a),
            capture_output=True, text=True)
        cov = run('--coverage', sym)
        missing = sorted(l.split()[3] for l in cov.stdout.splitlines()
                         if l.startswith('no reference entry'))
        want = ['wabot_after_struct', 'wabot_after_trailing', 'wabot_lonely']
        if cov.returncode != 1 or missing != want:
            failures.append('coverage: exit %d, missing %s, want %s'
                            % (cov.returncode, missing, want))
        man = os.path.join(d, 'man3')
        r = run('--version', '9.9.9', '--man', man, sym)
        if r.returncode != 0:
            failures.append('--man failed: ' + r.stderr)
        else:
            pages = {p: open(os.path.join(man, p)).read() for p in os.listdir(man)}
            if sorted(pages) != sorted(s + '.3' for s in SYMS):
                failures.append('pages: %s' % sorted(pages))
            if pages.get('wabot_a2.3') != '.so man3/wabot_a.3\n':
                failures.append('wabot_a2 is not a link to wabot_a: %r'
                                % pages.get('wabot_a2.3'))
            a = pages.get('wabot_a.3', '')
            for want_text in ('wabot_a, wabot_a2 \\- A does a', 'int y);',
                              'Owned by nobody.', 'libwabot 9.9.9'):
                if want_text not in a:
                    failures.append('wabot_a.3 lacks %r' % want_text)
            if 'T only' not in pages.get('wabot_t.3', ''):
                failures.append('wabot_t.3 lacks its trailing comment')
            if 'No header comment' not in pages.get('wabot_lonely.3', ''):
                failures.append('wabot_lonely.3 is not the placeholder')
        md = run('--markdown')
        if '### `wabot_a`, `wabot_a2`' not in md.stdout:
            failures.append('markdown lacks the wabot_a family heading')
    for f in failures:
        print('FAIL:', f)
    if not failures:
        print('ok: gen-man.py reads families, trailing comments and gaps as documented')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
