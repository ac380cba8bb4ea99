/** The demo account and its three bots, each with knowledge about a different topic. */
export const DEMO_OWNER = { email: 'demo@parley.dev', password: 'parley-demo', name: 'Demo Owner' };

export interface DemoBot {
  name: string;
  description: string;
  instructions: string;
  /** Fixed so the README's widget examples work; real bots get random keys. */
  publicKey: string;
  sources: { title: string; text: string }[];
}

export const DEMO_BOTS: DemoBot[] = [
  {
    name: 'Bean There Coffee',
    description: 'Answers customer questions for a neighbourhood coffee roaster.',
    instructions: 'Be warm and brief. Mention opening hours when people ask about visiting.',
    publicKey: 'pk_demo_coffee',
    sources: [
      {
        title: 'Shop hours and location',
        text: `Bean There Coffee is open Monday to Friday from 7am to 6pm, and Saturday and Sunday from 8am to 4pm. We are closed on public holidays.

The shop is at 12 Harbour Street, next to the ferry terminal. Bicycle parking is in front of the shop; the nearest car park is on Quay Road.`,
      },
      {
        title: 'Menu, beans and brewing',
        text: `Our espresso blend combines Colombian and Ethiopian beans roasted medium-dark, with notes of chocolate and cherry. Single-origin filter coffee changes every week.

We offer oat, almond and soy milk at no extra charge. Decaf is made with the Swiss water process, without chemicals.

Whole beans are sold in 250 g and 1 kg bags. We grind beans for free for espresso, filter, French press or cold brew.`,
      },
      {
        title: 'Orders, refunds and subscriptions',
        text: `Online orders ship within two working days. Shipping is free above 40 euros.

If a bag of coffee arrives damaged or tastes stale, email hello@beanthere.example within 14 days for a refund or a replacement. Refunds go back to the original payment method within five working days.

The coffee subscription delivers a fresh bag every two or four weeks. You can pause, skip or cancel the subscription at any time from your account page.`,
      },
    ],
  },
  {
    name: 'Orbit Fitness Helper',
    description: 'Helps gym members with memberships, classes and facilities.',
    instructions: 'Encourage people to try a free class. Never give medical advice.',
    publicKey: 'pk_demo_fitness',
    sources: [
      {
        title: 'Memberships and pricing',
        text: `Orbit Fitness has three memberships. Basic costs 29 euros per month and covers the gym floor. Plus costs 45 euros per month and adds unlimited group classes. Premium costs 65 euros per month and adds the sauna, the pool and two personal training sessions per month.

Memberships run month to month. To cancel a membership, give notice at the front desk or in the app before the 20th of the month; it ends at the end of that month. Students get 20 percent off with a valid student card.`,
      },
      {
        title: 'Class timetable',
        text: `Yoga classes run on Monday and Wednesday at 7pm and Saturday at 10am. Spinning runs Tuesday and Thursday at 6:30pm. HIIT circuit training runs Monday, Wednesday and Friday at 7am.

Book classes in the Orbit app up to seven days ahead. Cancel at least two hours before the class starts, or the spot counts as used. Your first group class is free for non-members.`,
      },
      {
        title: 'Facilities and rules',
        text: `The gym is open every day from 6am to 11pm. Lockers are free; bring your own padlock or borrow one at the front desk.

Towels are required on all machines. Wipe equipment after use. The pool has lane swimming every morning until 10am. Guests may train with a member twice per month for a 10 euro day pass.`,
      },
    ],
  },
  {
    name: 'Nimbus Docs Assistant',
    description: 'Answers developer questions about the Nimbus hosting platform.',
    instructions: 'Answer precisely and link to the relevant CLI command when there is one.',
    publicKey: 'pk_demo_nimbus',
    sources: [
      {
        title: 'Deploying an application',
        text: `Deploy an application with the command nimbus deploy from the project folder. Nimbus detects Node.js, Python and Go projects automatically and builds a container image.

Every deployment gets a preview URL. Promote a preview to production with nimbus promote. Roll back to the previous release with nimbus rollback; rollbacks take less than ten seconds because images are kept for 30 days.`,
      },
      {
        title: 'Environment variables and secrets',
        text: `Set environment variables with nimbus env set KEY=value. Variables marked as secret with the --secret flag are encrypted at rest and never shown again in the dashboard or the logs.

Changing a variable triggers a new release. Preview deployments use the preview environment, so production secrets never reach preview builds.`,
      },
      {
        title: 'Pricing and limits',
        text: `The Hobby plan is free and includes one application with 512 MB of memory that sleeps after 30 minutes without traffic. The Team plan costs 20 dollars per member per month and includes autoscaling, custom domains and 99.9 percent uptime.

Bandwidth above 100 GB per month is billed at 5 cents per GB. Build minutes are unlimited on every plan.`,
      },
    ],
  },
];
