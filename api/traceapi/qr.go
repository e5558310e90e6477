package traceapi

import (
	"bytes"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/suilong/suilong/internal/errs"
)

// qrFor returns the QR code of the lot with the code in the request, or answers 404 itself.
// The lookup is unscoped, as the page's is: the QR code shows nothing that the code in its URL does not.
func (m *Module) qrFor(c *gin.Context) (*qrcode.QRCode, bool) {
	l, err := m.d.Service.Store.LotByCode(c.Request.Context(), c.Param("code"))
	if errs.Is(err, errs.NotFound) {
		m.notFound(c)
		return nil, false
	}
	if err != nil {
		m.pageError(c, err)
		return nil, false
	}
	// Medium error correction survives a smudged label and keeps the symbol small.
	q, err := qrcode.New(m.d.Service.URIs.Lot(&l), qrcode.Medium)
	if err != nil {
		m.pageError(c, err)
		return nil, false
	}
	// A day: the URI it encodes is fixed when the lot is registered (code, GTIN), and label printing fetches
	// the same symbols many times.
	c.Header("Cache-Control", "public, max-age=86400")
	return q, true
}

func (m *Module) qrSVG(c *gin.Context) {
	q, ok := m.qrFor(c)
	if !ok {
		return
	}
	c.Data(http.StatusOK, "image/svg+xml", QRSVG(q.Bitmap()))
}

func (m *Module) qrPNG(c *gin.Context) {
	q, ok := m.qrFor(c)
	if !ok {
		return
	}
	// PNG for the tools that take no SVG (label printers' software, chat apps); 512 px prints sharp on a label.
	png, err := q.PNG(512)
	if err != nil {
		m.pageError(c, err)
		return
	}
	c.Data(http.StatusOK, "image/png", png)
}

// QRSVG draws a QR bitmap (quiet zone included) as one SVG path, one unit per module, runs of dark modules in
// a row merged into one rectangle: a version-3 symbol comes to about 3 KB and prints sharp at any size.
func QRSVG(bits [][]bool) []byte {
	n := len(bits)
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" shape-rendering="crispEdges">`, n, n)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, n, n)
	for y, row := range bits {
		for x := 0; x < len(row); {
			if !row[x] {
				x++
				continue
			}
			run := 1
			for x+run < len(row) && row[x+run] {
				run++
			}
			fmt.Fprintf(&b, "M%d %dh%dv1h-%dz", x, y, run, run)
			x += run
		}
	}
	b.WriteString(`"/></svg>`)
	return b.Bytes()
}
