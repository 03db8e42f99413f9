package deploy

import (
	"os"
	"path/filepath"
)

// writePrivate writes data to path, mode 0600 whatever an old file's mode was, complete or not
// at all: the data goes to a new private file in the same directory, synced, which then
// replaces path (replace) or is linked there only if path does not exist yet (an error wrapping
// fs.ErrExist otherwise).
func writePrivate(path string, data []byte, replace bool) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*") // mode 0600
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a rename or link there is nothing more to remove
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if replace {
		return os.Rename(tmp.Name(), path)
	}
	return os.Link(tmp.Name(), path)
}
