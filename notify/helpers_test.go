package notify_test

import (
	"encoding/base64"
	"net/url"
)

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func queryEscape(s string) string { return url.QueryEscape(s) }
