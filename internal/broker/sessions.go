package broker

import (
	"strconv"
	"strings"

	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/hooks/storage/bolt"
)

// sessionStore is mochi's bolt storage hook with one repair: mochi v2.7.9's bolt hook stores in-flight messages
// without their packet id, so after a broker restart they cannot be resent ("missing packet id") and a
// persistent subscriber never receives what was queued for it. The id is still in the record's key
// ("IFM_<client>:<packet id>"), so it is restored from there.
type sessionStore struct {
	*bolt.Hook
}

func (h sessionStore) StoredInflightMessages() ([]storage.Message, error) {
	msgs, err := h.Hook.StoredInflightMessages()
	for i := range msgs {
		if msgs[i].PacketID != 0 {
			continue
		}
		if j := strings.LastIndexByte(msgs[i].ID, ':'); j >= 0 {
			if id, perr := strconv.ParseUint(msgs[i].ID[j+1:], 10, 16); perr == nil {
				msgs[i].PacketID = uint16(id)
			}
		}
	}
	return msgs, err
}
