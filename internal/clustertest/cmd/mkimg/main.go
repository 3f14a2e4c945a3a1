// Command mkimg writes a FROM-scratch image archive (docker save format,
// which `ctr images import` and the image_import module read) from local
// files, with no registry and no daemon:
//
//	mkimg -t registry.k8s.io/pause:3.10.1 -o pause.tar [-entrypoint /pause] [-rootdir DIR] [-dir /tmp:1777]... SRC:DST[:MODE]...
//
// Every file gets owner root and a fixed mtime, so the same inputs give the
// same image digest.
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(s string) error { *l = append(*l, s); return nil }

var epoch = time.Unix(0, 0)

func main() {
	log.SetFlags(0)
	log.SetPrefix("mkimg: ")
	tag := flag.String("t", "", "image reference")
	out := flag.String("o", "", "output archive")
	entrypoint := flag.String("entrypoint", "", "entrypoint, space separated")
	rootdir := flag.String("rootdir", "", "directory tree to put at / first (files, directories, symlinks)")
	var envs, dirs list
	flag.Var(&envs, "env", "K=V (repeatable)")
	flag.Var(&dirs, "dir", "empty directory PATH[:MODE], e.g. /tmp:1777 (repeatable)")
	flag.Parse()
	if *tag == "" || *out == "" {
		log.Fatal("-t and -o are required")
	}
	layer, err := buildLayer(*rootdir, dirs, flag.Args())
	if err != nil {
		log.Fatal(err)
	}
	if err := write(*tag, *out, layer, *entrypoint, envs); err != nil {
		log.Fatal(err)
	}
}

type layerWriter struct {
	tw   *tar.Writer
	made map[string]bool
}

// parents adds the directories above p that are not in the layer yet.
func (w *layerWriter) parents(p string) error {
	cur := ""
	for _, part := range strings.Split(strings.Trim(path.Dir(p), "/"), "/") {
		if part == "" || part == "." {
			continue
		}
		cur += part + "/"
		if w.made[cur] {
			continue
		}
		w.made[cur] = true
		if err := w.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: cur, Mode: 0o755, ModTime: epoch}); err != nil {
			return err
		}
	}
	return nil
}

func buildLayer(rootdir string, dirs, files []string) ([]byte, error) {
	var buf bytes.Buffer
	w := &layerWriter{tw: tar.NewWriter(&buf), made: map[string]bool{}}
	if rootdir != "" {
		if err := w.addTree(rootdir); err != nil {
			return nil, err
		}
	}
	for _, d := range dirs {
		p, mode := d, int64(0o755)
		if i := strings.LastIndex(d, ":"); i > 0 {
			m, err := strconv.ParseInt(d[i+1:], 8, 64)
			if err != nil {
				return nil, fmt.Errorf("-dir %s: bad mode: %w", d, err)
			}
			p, mode = d[:i], m
		}
		n := strings.Trim(p, "/") + "/"
		if err := w.parents(n + "x"); err != nil {
			return nil, err
		}
		w.made[n] = true
		if err := w.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: n, Mode: mode, ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	for _, a := range files {
		f := strings.Split(a, ":")
		if len(f) < 2 {
			return nil, fmt.Errorf("%q: expected SRC:DST[:MODE]", a)
		}
		mode := int64(0o755)
		if len(f) > 2 {
			m, err := strconv.ParseInt(f[2], 8, 64)
			if err != nil {
				return nil, fmt.Errorf("%q: bad mode: %w", a, err)
			}
			mode = m
		}
		data, err := os.ReadFile(f[0])
		if err != nil {
			return nil, err
		}
		if err := w.parents(f[1]); err != nil {
			return nil, err
		}
		h := &tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(f[1], "/"), Mode: mode, Size: int64(len(data)), ModTime: epoch}
		if err := w.tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := w.tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := w.tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// addTree copies a directory tree (a Debian userland extracted with
// mmdebstrap) into the layer; devices, fifos and sockets are left out.
func (w *layerWriter) addTree(root string) error {
	return filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		fi, err := de.Info()
		if err != nil {
			return err
		}
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		} else if !fi.Mode().IsRegular() && !fi.IsDir() {
			return nil
		}
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		if fi.IsDir() {
			h.Name += "/"
			w.made[h.Name] = true
		}
		h.Uid, h.Gid, h.Uname, h.Gname, h.ModTime = 0, 0, "", "", epoch
		h.AccessTime, h.ChangeTime = time.Time{}, time.Time{}
		if err := w.tw.WriteHeader(h); err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(w.tw, f)
		return err
	})
}

func write(tag, out string, layerTar []byte, entrypoint string, envs []string) error {
	ref, err := name.NewTag(tag)
	if err != nil {
		return err
	}
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerTar)), nil })
	if err != nil {
		return err
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: l, History: v1.History{CreatedBy: "gpuctl mkimg", Created: v1.Time{Time: epoch}}})
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = "amd64", "linux"
	cf.Created = v1.Time{Time: epoch}
	cf.Config.Env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/opt/bin"}, envs...)
	if entrypoint != "" {
		cf.Config.Entrypoint = strings.Fields(entrypoint)
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	tmp := out + ".tmp"
	if err := tarball.WriteToFile(tmp, ref, img); err != nil {
		return err
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Println(tag, d)
	return os.Rename(tmp, out)
}
