// Package doccheck holds a test that keeps the module documented: every
// package needs a package comment and every exported identifier a doc
// comment that says what it is for.
package doccheck

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// moduleRoot walks up from the test's directory to the folder holding go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
}

// skipDir reports folders that hold no module source: testdata, hidden and
// underscore folders (the go tool ignores them too).
func skipDir(name string) bool {
	return name == "testdata" || name == "vendor" ||
		strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")
}

// findings parses every non-test Go file below root and lists each package
// without a package comment and each exported identifier without a doc
// comment, as "path:line: what".
func findings(t *testing.T, root string) []string {
	t.Helper()
	fset := token.NewFileSet()
	var out []string
	pkgDoc := map[string]bool{}     // package dir+name -> has a package comment
	pkgFirst := map[string]string{} // package dir+name -> a file to name in the finding
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && skipDir(d.Name()) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		key := filepath.Dir(rel) + " package " + f.Name.Name
		if _, ok := pkgFirst[key]; !ok {
			pkgFirst[key] = rel
		}
		if f.Doc != nil && strings.TrimSpace(f.Doc.Text()) != "" {
			pkgDoc[key] = true
		}
		// Commands (package main) export nothing to anyone.
		if f.Name.Name == "main" {
			return nil
		}
		report := func(pos token.Pos, what string) {
			p := fset.Position(pos)
			out = append(out, rel+":"+strconv.Itoa(p.Line)+": "+what)
		}
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				if !d.Name.IsExported() {
					continue
				}
				if d.Recv != nil {
					recv := receiverType(d.Recv)
					if !ast.IsExported(recv) {
						continue
					}
					if !hasDoc(d.Doc) {
						report(d.Pos(), "method "+recv+"."+d.Name.Name+" has no doc comment")
					}
					continue
				}
				if !hasDoc(d.Doc) {
					report(d.Pos(), "func "+d.Name.Name+" has no doc comment")
				}
			case *ast.GenDecl:
				if d.Tok == token.IMPORT {
					continue
				}
				for _, spec := range d.Specs {
					switch s := spec.(type) {
					case *ast.TypeSpec:
						if s.Name.IsExported() && !hasDoc(s.Doc) && !hasDoc(d.Doc) {
							report(s.Pos(), "type "+s.Name.Name+" has no doc comment")
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if n.IsExported() && !hasDoc(s.Doc) && !hasDoc(d.Doc) && !hasDoc(s.Comment) {
								report(n.Pos(), strings.ToLower(d.Tok.String())+" "+n.Name+" has no doc comment")
							}
						}
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for key, file := range pkgFirst {
		if !pkgDoc[key] {
			out = append(out, file+": "+key+" has no package comment")
		}
	}
	sort.Strings(out)
	return out
}

// hasDoc reports whether a comment group holds any text.
func hasDoc(g *ast.CommentGroup) bool {
	return g != nil && strings.TrimSpace(g.Text()) != ""
}

// receiverType names the type of a method's receiver, without pointer or type
// parameters.
func receiverType(fl *ast.FieldList) string {
	if fl == nil || len(fl.List) == 0 {
		return ""
	}
	x := fl.List[0].Type
	for {
		switch e := x.(type) {
		case *ast.StarExpr:
			x = e.X
		case *ast.IndexExpr:
			x = e.X
		case *ast.IndexListExpr:
			x = e.X
		case *ast.ParenExpr:
			x = e.X
		case *ast.Ident:
			return e.Name
		default:
			return ""
		}
	}
}

// TestEveryExportedNameHasADocComment fails with one line for each package
// comment and each exported doc comment the module is missing.
func TestEveryExportedNameHasADocComment(t *testing.T) {
	got := findings(t, moduleRoot(t))
	for _, f := range got {
		t.Error(f)
	}
	if len(got) > 0 {
		t.Logf("%d findings: every package and exported name needs a doc comment saying what it is for", len(got))
	}
}

// TestFindingsCatchMissingComments checks the checker itself on a small
// module written for the test, so a checker that finds nothing cannot pass
// unnoticed.
func TestFindingsCatchMissingComments(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.test\n")
	write("a/a.go", `package a

// Documented is fine.
func Documented() {}

func Bare() {}

// T is documented.
type T struct{ Field int }

func (T) M() {}

// M2 is documented.
func (*T) M2() {}

type u struct{}

func (u) Exported() {}

// Group comment covers both.
const (
	C1 = 1
	C2 = 2
)

var V = 3

var W = 4 // W trails a comment.
`)
	write("a/a_test.go", "package a\n\nfunc Untested() {}\n")
	write("b/b.go", "// Package b is documented.\npackage b\n")
	write("testdata/x.go", "package x\n\nfunc Ignored() {}\n")
	got := findings(t, dir)
	want := []string{
		"a/a.go: a package a has no package comment",
		"a/a.go:11: method T.M has no doc comment",
		"a/a.go:26: var V has no doc comment",
		"a/a.go:6: func Bare has no doc comment",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
