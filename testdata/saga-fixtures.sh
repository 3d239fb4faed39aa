# Producer events for the saga regression cases (sourced by their cmd):
# adj STORE SKU DELTA [TIME], order TXID ITEMS TOTAL [TIME].
adj() { printf '{"id":"adj-%s-%s-%s","source":"inventory","type":"InventoryAdjusted","subject":"inventory-%s","time":"%s","data":{"store_id":"%s","sku":"%s","delta":%s}}\n' "$1" "$2" "$3" "$1" "${4:-2026-11-24T08:00:00.000Z}" "$1" "$2" "$3"; }
order() { printf '{"id":"o-%s","source":"transaction","type":"TransactionCreated","subject":"transaction-%s","time":"%s","data":{"transaction_id":"%s","store_id":"S1","customer_id":"C1","items":%s,"total":%s,"currency":"EUR","payment":{"method":"card","token":"tok_ok"}}}\n' "$1" "$1" "${4:-2026-11-24T10:00:00.000Z}" "$1" "$2" "$3"; }
# The log in short: seq, type, transaction, reason.
show() { evt-replay -l "$1" | jq -c '[.seq, .type, .data.transaction_id // .data.sku, .data.reason]'; }
