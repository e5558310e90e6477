// Package envfile loads ./var/suilong.env, the settings the local service scripts chose, so that every suilong
// command and test run from the checkout reaches the same PostgreSQL, InfluxDB and broker as `make run`.
package envfile

import (
	"os"
	"path/filepath"

	"github.com/joho/godotenv"
)

// Find returns the path of var/suilong.env in dir or its nearest ancestor that has one, or "".
// SUILONG_ENV_FILE overrides the search.
func Find(dir string) string {
	if p := os.Getenv("SUILONG_ENV_FILE"); p != "" {
		return p
	}
	for {
		p := filepath.Join(dir, "var", "suilong.env")
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// Load sets the variables of the env file found from the working directory. Variables already set in the
// environment win, so a flag or an exported variable always overrides the file. It returns the file used.
func Load() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	p := Find(wd)
	if p == "" {
		return "", nil
	}
	if err := godotenv.Load(p); err != nil {
		return p, err
	}
	return p, nil
}
