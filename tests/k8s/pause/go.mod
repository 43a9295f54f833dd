module runfleet.local/pause

go 1.21
