package card

import (
	"errors"

	"github.com/keyunlock/keyunlock/pcsc/ccid"
)

// CCIDReader is a USB CCID reader as the direct driver (ccid:) sees it,
// for listings.
type CCIDReader struct {
	Name  string // product and ccid:PORT, as --card-reader matches it
	Port  string // for ccid:PORT
	Level string // exchange level: "TPDU", "short APDU", "extended APDU"
	Card  bool   // a card is in the reader
	InUse bool   // claimed by another program (pcscd, scdaemon)
	// Problem says why the reader cannot be used directly, if it cannot.
	Problem error
}

// ListCCIDReaders lists the USB CCID readers and whether each holds a
// card. It never powers or resets a card; a reader claimed by another
// program is reported InUse.
func ListCCIDReaders() ([]CCIDReader, error) {
	return listCCID(usbfsSource{})
}

func listCCID(src ccidSource) ([]CCIDReader, error) {
	infos, err := src.List()
	if err != nil {
		return nil, err
	}
	out := make([]CCIDReader, 0, len(infos))
	for _, i := range infos {
		r := CCIDReader{Name: i.Name(), Port: i.Port, Level: i.Desc.Level().String(), Problem: i.Err}
		if i.Err == nil {
			dev, err := src.Open(i)
			switch {
			case errors.Is(err, ccid.ErrInUse):
				r.InUse = true
			case err != nil:
				r.Problem = err
			default:
				r.Card, r.Problem = dev.CardPresent()
				dev.Close()
			}
		}
		out = append(out, r)
	}
	return out, nil
}
