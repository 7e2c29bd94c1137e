from quantkan.cli import main

raise SystemExit(main())
