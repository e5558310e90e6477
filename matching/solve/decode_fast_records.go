// The fast decoder's records: one parser per list of DESIGN.md's file format, each field read once.

package solve

// records reads an array of objects, calling field for each member of each; it gives up unless every object
// has all the required fields (bits of want; a field's bit is returned by field) exactly once.
func (p *fastParser) records(list uint8, first bool, want uint16, start func(), field func(key string) (uint16, bool)) bool {
	for ; ; first = false {
		if p.byte(']') {
			return true
		}
		if !first && !p.byte(',') {
			return false
		}
		if !p.byte('{') {
			return false
		}
		start()
		var seen uint16
		for firstField := true; ; firstField = false {
			if p.byte('}') {
				break
			}
			if !firstField && !p.byte(',') {
				return false
			}
			key, ok := p.str()
			if !ok || !p.byte(':') {
				return false
			}
			bit, ok := field(key)
			if !ok || seen&bit != 0 {
				return false
			}
			seen |= bit
		}
		if seen&want != want {
			return false
		}
		p.left--
		if p.i == p.stop {
			p.stopped = list // handed over: the other half reads on from here
			return false
		}
	}
}

func (p *fastParser) products(in *Instance, first bool) bool {
	var r *Product
	return p.records(listProducts, first, 3, func() {
		in.Products = append(grow(in.Products, p), Product{})
		r = &in.Products[len(in.Products)-1]
	}, func(key string) (uint16, bool) {
		var ok bool
		switch key {
		case "name":
			r.Name, ok = p.str()
			return 1, ok
		case "shelf_life_hours":
			var n int64
			n, ok = p.integer()
			r.ShelfLifeHours = int(n)
			return 2, ok
		}
		return 0, false
	})
}

func (p *fastParser) lanes(in *Instance, first bool) bool {
	var r *Lane
	return p.records(listLanes, first, 15, func() {
		in.Lanes = append(grow(in.Lanes, p), Lane{})
		r = &in.Lanes[len(in.Lanes)-1]
	}, func(key string) (uint16, bool) {
		var ok bool
		switch key {
		case "origin":
			r.Origin, ok = p.str()
			return 1, ok
		case "destination":
			r.Destination, ok = p.str()
			return 2, ok
		case "cost_per_kg":
			r.CostPerKg, ok = p.fen()
			return 4, ok
		case "transit_hours":
			var n int64
			n, ok = p.integer()
			r.TransitHours = int(n)
			return 8, ok
		}
		return 0, false
	})
}

func (p *fastParser) offers(in *Instance, first bool) bool {
	var r *Offer
	return p.records(listOffers, first, 0x1ff, func() {
		in.Offers = append(grow(in.Offers, p), Offer{})
		r = &in.Offers[len(in.Offers)-1]
	}, func(key string) (uint16, bool) {
		var ok bool
		switch key {
		case "id":
			r.ID, ok = p.str()
			return 1 << 0, ok
		case "base":
			r.Base, ok = p.str()
			return 1 << 1, ok
		case "product":
			r.Product, ok = p.str()
			return 1 << 2, ok
		case "grade":
			var n int64
			n, ok = p.integer()
			r.Grade = int(n)
			return 1 << 3, ok
		case "quantity_kg":
			r.QuantityKg, ok = p.integer()
			return 1 << 4, ok
		case "min_price_per_kg":
			r.MinPricePerKg, ok = p.fen()
			return 1 << 5, ok
		case "origin":
			r.Origin, ok = p.str()
			return 1 << 6, ok
		case "harvested_at":
			r.HarvestedAt, ok = p.time()
			return 1 << 7, ok
		case "available_from":
			r.AvailableFrom, ok = p.time()
			return 1 << 8, ok
		case "certifications":
			if p.null() {
				return 1 << 9, true
			}
			r.Certifications, ok = p.strs()
			return 1 << 9, ok
		case "priority_bonus_per_kg":
			if p.null() {
				return 1 << 10, true
			}
			r.PriorityBonusPerKg, ok = p.fen()
			return 1 << 10, ok
		case "lot":
			if p.null() {
				return 1 << 11, true
			}
			r.Lot, ok = p.str()
			return 1 << 11, ok
		case "inspection":
			if p.null() {
				return 1 << 12, true
			}
			r.Inspection, ok = p.str()
			return 1 << 12, ok
		}
		return 0, false
	})
}

func (p *fastParser) demands(in *Instance, first bool) bool {
	var r *Demand
	return p.records(listDemands, first, 0xff, func() {
		in.Demands = append(grow(in.Demands, p), Demand{})
		r = &in.Demands[len(in.Demands)-1]
	}, func(key string) (uint16, bool) {
		var ok bool
		switch key {
		case "id":
			r.ID, ok = p.str()
			return 1 << 0, ok
		case "buyer":
			r.Buyer, ok = p.str()
			return 1 << 1, ok
		case "product":
			r.Product, ok = p.str()
			return 1 << 2, ok
		case "min_grade":
			var n int64
			n, ok = p.integer()
			r.MinGrade = int(n)
			return 1 << 3, ok
		case "quantity_kg":
			r.QuantityKg, ok = p.integer()
			return 1 << 4, ok
		case "max_price_per_kg":
			r.MaxPricePerKg, ok = p.fen()
			return 1 << 5, ok
		case "destination":
			r.Destination, ok = p.str()
			return 1 << 6, ok
		case "deliver_by":
			r.DeliverBy, ok = p.time()
			return 1 << 7, ok
		case "required_certifications":
			if p.null() {
				return 1 << 8, true
			}
			r.RequiredCertifications, ok = p.strs()
			return 1 << 8, ok
		case "require_inspection":
			if p.null() {
				return 1 << 9, true
			}
			r.RequireInspection, ok = p.boolean()
			return 1 << 9, ok
		}
		return 0, false
	})
}

func (p *fastParser) certificates(in *Instance, first bool) bool {
	var r *BaseCertificate
	return p.records(listCertificates, first, 0x17, func() {
		in.BaseCertificates = append(in.BaseCertificates, BaseCertificate{})
		r = &in.BaseCertificates[len(in.BaseCertificates)-1]
	}, func(key string) (uint16, bool) {
		var ok bool
		switch key {
		case "base":
			r.Base, ok = p.str()
			return 1 << 0, ok
		case "number":
			r.Number, ok = p.str()
			return 1 << 1, ok
		case "products":
			r.Products, ok = p.strs()
			return 1 << 2, ok
		case "valid_from":
			if p.null() {
				return 1 << 3, true
			}
			r.ValidFrom, ok = p.date()
			return 1 << 3, ok
		case "valid_until":
			r.ValidUntil, ok = p.date()
			return 1 << 4, ok
		}
		return 0, false
	})
}

// nonNil is list, or an empty list where it is nil.
func nonNil(list []BaseCertificate) []BaseCertificate {
	if list == nil {
		return []BaseCertificate{}
	}
	return list
}
