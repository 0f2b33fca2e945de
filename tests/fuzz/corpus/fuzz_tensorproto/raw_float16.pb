
BtJиH8буFQлD: