/** A flags-as-code document (the `xp export` format) matching the fixture workspace. */
export const FLAGS_YAML = `xp: 1
project: shop
segments: []
holdouts: []
metrics: []
experiments: []
flags:
  - key: checkout-v2
    name: Checkout v2
    description: The new checkout flow.
    type: string
    variations:
      - key: control
        value: control
      - key: blue
        value: blue
      - key: green
        value: green
    environments:
      production:
        enabled: true
        defaultVariation: control
        offVariation: control
        rules:
          - id: ramp
            type: rollout
            variation: blue
            coverage: 0.25
  - key: new-nav
    name: New navigation
    type: boolean
    variations:
      - key: "off"
        value: false
      - key: "on"
        value: true
    environments:
      production:
        enabled: true
        defaultVariation: "on"
        offVariation: "off"
  - key: dark-mode
    name: Dark mode
    type: string
    variations:
      - key: light
        value: light
      - key: dark
        value: dark
  - key: search-v3
    name: Search v3
    type: boolean
    archived: true
    variations:
      - key: "off"
        value: false
      - key: "on"
        value: true
  - key: banner-text
    name: Banner text
    type: string
    variations:
      - key: hello
        value: hello
`;
